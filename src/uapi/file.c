/* SPDX-License-Identifier: MIT */
/* The registry of dmasync's file descriptors and its monitor thread. */

/*
 * DOC: fd numbers dmasync closes, and why each one is its own
 *
 * A library that closes a number the program closed and got back for
 * something else destroys the program's data.  Every close(), dup3() and
 * shutdown() by number in the library is one of these, and each number is
 * provably still ours at that moment:
 *
 * - The internal ends (a sync file's or timeline's watch socket B, a
 *   udmabuf's ofd fd, epoll mirror ends, a foreign fence's dup) are made
 *   by us, never shown to the program, and closed once, by the release of
 *   the object that owns them, after everything that could still use them
 *   is gone: uapi_file_put() runs the release before closing them (a
 *   fence callback that shuts B down is removed under the fence lock
 *   first).  A program that closes numbers it never opened is outside this
 *   argument (as it is for any library's fds); see docs/status.md.
 * - A user fd we made (a new sync file's A, a dma-buf, a device fd) is
 *   closed by us only before the program has seen it: on an error path of
 *   the request that made it, and since sync_file_publish() only if the
 *   number was never copied to the program (the kernel's put_unused_fd()).
 * - dmasync_close() closes the number the program passed in: the
 *   program's request, as close(2).
 * - Fork children close their copies of the parent's internal fds
 *   (registry table, mirrors): copies of numbers that were ours in the
 *   parent at fork() (the registry lock is held across it); the /proc fd
 *   directory of the reap passes is replaced only if the number still
 *   holds our directory (scan_dir_fork_child()).
 *
 * The other way to lose an fd is to run out of them: our internal end of
 * a sync file the program closed stays open until its hang-up is handled.
 * The monitor thread does that, and since it can lag arbitrarily on a
 * loaded machine, creators drain the backlog themselves once it has
 * doubled (uapi_files_maybe_drain()) and again before reporting EMFILE,
 * so closed objects never hold more fds than live ones.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include <dmasync/dma-fence.h>
#include <dmasync/kref.h>
#include "debug.h"
#include "file.h"
#include "fork.h"
#include "futex.h"
#include "ktime.h"
#include "rcu.h"
#include "spinlock-priv.h"
#include "uaccess.h"

/*
 * The registry: three chained hash tables, by inode, by monitor id and by
 * inotify watch, sharing one bucket count.  They start at HASH_MIN_BITS
 * and double, under registry_lock, whenever the installed objects
 * outnumber the buckets, so chains stay at about one object whatever the
 * load (a broker with 10^5 and more live objects; docs/status.md, sessions
 * 15 and 18); they never shrink.  A process that makes no in-process
 * object (every client of a broker) allocates none.  A failed doubling
 * leaves the tables as they are: longer chains, nothing lost.
 */
#define HASH_MIN_BITS 8
#define HASH_MAX_BITS 26
/* In uapi_file.refs: a closer sleeps until the count drops to 1. */
#define FILE_CLOSER_WAITS (1 << 30)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int hash_bits;		/* 0 until the first install */
static struct uapi_file **table;
/* Objects watched for hang-up, by id: a monitor event names an object by id
 * so that an event for an object uninstalled meanwhile finds nothing. */
static struct uapi_file **by_id;
static u64 next_id = 2; /* even: monitor events with the low bit set are fd watches */
unsigned int uapi_installed_count;	/* file.h: uapi_files_any() */
static int epfd = -1;
static bool monitor_running;
/*
 * Objects whose fd is a memfd (dma-bufs) cannot be watched for hang-up:
 * an inotify watch on the inode reports IN_IGNORED when its last fd and
 * last mapping are gone, in every process.  One inotify fd, in the
 * monitor's epoll set under INOTIFY_ID; watch descriptors map to objects
 * through by_wd.  ino_lock: one reader of the queue at a time, events
 * handled before it is released (uapi_file_closed() relies on that).
 */
#define INOTIFY_ID ((u64)-2)
/* uapi_files_settle()'s ping of the monitor: an eventfd in its set,
 * EPOLLONESHOT, that only the monitor thread answers. */
#define PING_ID ((u64)-4)
static int ping_fd = -1;
static pthread_mutex_t settle_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t pings_asked, pings_done;
static _Thread_local bool in_monitor;
static int ino_fd = -1;
static pthread_mutex_t ino_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uapi_file **by_wd;

void (*uapi_file_release_hook)(struct uapi_file *file);

static unsigned int hash_bits_of(u64 h, unsigned int bits)
{
	return (unsigned int)(h >> (64 - bits));
}

/* registry_lock held: the bucket count, 0 before the first install. */
static unsigned int buckets_locked(void)
{
	return hash_bits ? 1u << hash_bits : 0;
}

/* Callers hold registry_lock, with the tables made (hash_bits != 0). */
static unsigned int hash(dev_t dev, ino_t ino)
{
	return hash_bits_of(((u64)dev * 0x9E3779B97F4A7C15ull) ^ ((u64)ino * 0xC2B2AE3D27D4EB4Full),
			    hash_bits);
}

static unsigned int id_hash(u64 id)
{
	return hash_bits_of(id * 0x9E3779B97F4A7C15ull, hash_bits);
}

static unsigned int wd_hash(int wd)
{
	return hash_bits_of((u64)(unsigned int)wd * 0x9E3779B97F4A7C15ull, hash_bits);
}

/*
 * Make the tables, or double them once the installed objects outnumber the
 * buckets, moving every object to its new chains.  Called with
 * registry_lock held, before an install links its object.  Return: 0, or
 * -ENOMEM when there are no tables yet and none could be made (a failed
 * doubling keeps the old ones).
 */
static int tables_fit(unsigned int count)
{
	struct uapi_file **old_table = table, **old_id = by_id, **old_wd = by_wd;
	unsigned int old_size = buckets_locked(), bits = hash_bits;
	struct uapi_file **mem;
	size_t size;

	if (!bits)
		bits = HASH_MIN_BITS;
	else if (count > old_size && bits < HASH_MAX_BITS)
		bits++;
	else
		return 0;
	size = (size_t)1 << bits;
	mem = calloc(3 * size, sizeof(*mem));
	if (!mem)
		return old_table ? 0 : -ENOMEM;
	table = mem;
	by_id = mem + size;
	by_wd = mem + 2 * size;
	hash_bits = bits;
	for (unsigned int i = 0; i < old_size; i++) {
		struct uapi_file *f, *next;

		for (f = old_table[i]; f; f = next) {
			unsigned int h = hash(f->dev, f->ino);

			next = f->hash_next;
			f->hash_next = table[h];
			table[h] = f;
		}
		for (f = old_id[i]; f; f = next) {
			unsigned int h = id_hash(f->id);

			next = f->id_next;
			f->id_next = by_id[h];
			by_id[h] = f;
		}
		for (f = old_wd[i]; f; f = next) {
			unsigned int h = wd_hash(f->wd);

			next = f->wd_next;
			f->wd_next = by_wd[h];
			by_wd[h] = f;
		}
	}
	/* One allocation holds all three (old_id and old_wd are inside it). */
	free(old_table);
	return 0;
}

unsigned int uapi_file_buckets(void)
{
	unsigned int n;

	pthread_mutex_lock(&registry_lock);
	n = buckets_locked();
	pthread_mutex_unlock(&registry_lock);
	return n;
}

int uapi_epoll_ctl_masked(int ep, int op, int fd, struct epoll_event *event, uint32_t keep)
{
	struct epoll_event ev;
	int r;

	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD)
		r = epoll_ctl(ep, op, fd, event);
	else if (copy_from_user(&ev, event, sizeof(ev)))
		return -EFAULT;
	else {
		/* EPOLLEXCLUSIVE beside an event it does not allow: the
		 * kernel refuses that (after its checks of the fds) as it is,
		 * which masking would hide. */
		if (!(ev.events & EPOLLEXCLUSIVE) || !(ev.events & ~UAPI_EPOLL_EXCLUSIVE_OK))
			ev.events &= keep | UAPI_EPOLL_FLAGS;
		r = epoll_ctl(ep, op, fd, &ev);
	}
	return r < 0 ? -errno : r;
}

int uapi_epoll_ctl_no_poll(int ep, int op, struct epoll_event *event)
{
	struct epoll_event ev;

	/* After reading the event and checking both fds. */
	if (op != EPOLL_CTL_DEL && copy_from_user(&ev, event, sizeof(ev)))
		return -EFAULT;
	if (fcntl(ep, F_GETFD) < 0)
		return -EBADF;
	return -EPERM;
}

int uapi_file_epoll_ctl_no_poll(struct uapi_file *file, int ep, int op, int fd,
				struct epoll_event *event)
{
	return uapi_epoll_ctl_no_poll(ep, op, event);
}

void uapi_file_init(struct uapi_file *file, const struct uapi_file_ops *ops)
{
	memset(file, 0, sizeof(*file));
	file->ops = ops;
	file->refs = 1;
	file->ofd_fd = -1;
	file->watch_fd = -1;
	file->wd = -1;
}

void uapi_file_get(struct uapi_file *file)
{
	__atomic_fetch_add(&file->refs, 1, __ATOMIC_RELAXED);
}

bool uapi_file_get_unless_zero(struct uapi_file *file)
{
	int old = __atomic_load_n(&file->refs, __ATOMIC_RELAXED);

	do {
		if (!(old & ~FILE_CLOSER_WAITS))
			return false;
	} while (!__atomic_compare_exchange_n(&file->refs, &old, old + 1, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

void uapi_file_put(struct uapi_file *file)
{
	int old;

	if (!file)
		return;
	old = __atomic_fetch_sub(&file->refs, 1, __ATOMIC_ACQ_REL);
	if (old & FILE_CLOSER_WAITS) {
		/*
		 * A closer waits for the last other reference to go
		 * (uapi_file_closed()); it may free @file as soon as the
		 * count drops, so only the futex address is used here: a
		 * wake-up at a stale address is harmless.
		 */
		if ((old & ~FILE_CLOSER_WAITS) == 2)
			futex_wake((uint32_t *)&file->refs, 1);
		return;
	}
	if (old <= 0)
		dmasync_refcount_bug(file, old, "uapi_file_put past zero");
	if (old == 1) {
		/*
		 * Release first, close the internal fds after: until release
		 * has run, the object may still use them (a sync file's fence
		 * callback shuts down its watch socket), and a closed number
		 * could already belong to someone else.
		 */
		int watch_fd = file->watch_fd, ofd_fd = file->ofd_fd;
		void (*hook)(struct uapi_file *) =
			__atomic_load_n(&uapi_file_release_hook, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&file->owner, __ATOMIC_ACQUIRE) && hook)
			hook(file);
		file->ops->release(file);
		if (watch_fd >= 0)
			close(watch_fd);
		if (ofd_fd >= 0)
			close(ofd_fd);
	}
}

/* ---- fork: the child gets copies of our internal fds but no monitor ---------- */

/* ino_lock is taken before registry_lock (handle_inotify()). */
static void fork_prepare(void)
{
	pthread_mutex_lock(&ino_lock);
	pthread_mutex_lock(&registry_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_unlock(&ino_lock);
}

/* Fork child: put @fresh (a new instance, or -1) at the number *@fd held. */
/*
 * The registry's own fds (the monitor's epoll fd, the inotify fd) are kept
 * at or above fd_floor once uapi_files_set_fd_floor() set one: the
 * preload keeps the program's low numbers for the program.
 */
static int fd_floor;

/* Store @fd (made by us, or -1) in @slot, moved above the floor first.
 * registry_lock held. */
static void set_own(int *slot, int fd)
{
	int min = fd_floor, high;

	if (fd >= 0 && min > 0 && fd < min) {
		high = fcntl(fd, F_DUPFD_CLOEXEC, min);
		if (high >= 0) {
			close(fd);
			fd = high;
		}
	}
	__atomic_store_n(slot, fd, __ATOMIC_RELAXED);
}

int uapi_files_dup_own(int fd)
{
	int min = __atomic_load_n(&fd_floor, __ATOMIC_RELAXED), copy = -1;

	if (min > 0)
		copy = fcntl(fd, F_DUPFD_CLOEXEC, min);
	return copy >= 0 ? copy : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void uapi_files_set_fd_floor(int min)
{
	pthread_mutex_lock(&registry_lock);
	__atomic_store_n(&fd_floor, min, __ATOMIC_RELAXED);	/* uapi_files_dup_own() reads it */
	/* Idle (nothing installed, no monitor): let go of them for now; the
	 * first object makes them again, above the floor. */
	if (!monitor_running && !uapi_installed_count) {
		if (ino_fd >= 0)
			close(ino_fd);
		if (epfd >= 0)
			close(epfd);
		set_own(&ino_fd, -1);
		set_own(&epfd, -1);
	}
	pthread_mutex_unlock(&registry_lock);
}

int uapi_own_fds(int fds[2])
{
	int n = 0, e = __atomic_load_n(&epfd, __ATOMIC_RELAXED),
	    i = __atomic_load_n(&ino_fd, __ATOMIC_RELAXED);

	if (e >= 0)
		fds[n++] = e;
	if (i >= 0)
		fds[n++] = i;
	return n;
}

bool uapi_fd_is_own(int fd)
{
	return fd >= 0 && (fd == __atomic_load_n(&epfd, __ATOMIC_RELAXED) ||
			   fd == __atomic_load_n(&ino_fd, __ATOMIC_RELAXED));
}

static void child_renew(int *fd, int fresh)
{
	if (*fd < 0) {
		if (fresh >= 0)
			close(fresh);
		return;
	}
	if (fresh >= 0 && dup3(fresh, *fd, O_CLOEXEC) == *fd) {
		close(fresh);
		return;
	}
	if (fresh >= 0)
		close(fresh);
	close(*fd);
	__atomic_store_n(fd, -1, __ATOMIC_RELAXED);
}

static void fork_child(void)
{
	/*
	 * The child shares the parent's sockets, so a sync file inherited
	 * from the parent still becomes readable when the parent signals it.
	 * The parent's objects stay the parent's: the child forgets them
	 * (closing its copies of our internal fds) and starts afresh.
	 */
	for (unsigned int i = 0; uapi_installed_count && i < buckets_locked(); i++) {
		for (struct uapi_file *f = table[i]; f; f = f->hash_next) {
			if (f->watch_fd >= 0)
				close(f->watch_fd);
			if (f->ofd_fd >= 0)
				close(f->ofd_fd);
		}
		/* Only buckets in use are written: the rest stay the
		 * untouched (uncopied) pages they are. */
		if (table[i])
			table[i] = NULL;
		if (by_id[i])
			by_id[i] = NULL;
		if (by_wd[i])
			by_wd[i] = NULL;
	}
	uapi_installed_count = 0;
	/*
	 * The epoll and inotify instances are shared with the parent: the
	 * child gets fresh ones at the same numbers (ours: the lock was held
	 * across fork), so that its fd table looks like its parent's.
	 */
	child_renew(&epfd, epoll_create1(EPOLL_CLOEXEC));
	child_renew(&ino_fd, inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
	if (ping_fd >= 0)
		close(ping_fd);	/* made again by the child's first settle */
	ping_fd = -1;
	if (epfd >= 0 && ino_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = INOTIFY_ID };

		epoll_ctl(epfd, EPOLL_CTL_ADD, ino_fd, &ev);
	}
	monitor_running = false;
	/* Taken by this very thread in fork_prepare(). */
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_unlock(&ino_lock);
}

static const struct core_fork_handler registry_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = fork_child,
};

/*
 * The monitor's epoll and inotify fds are made when the library loads, so that a program
 * that counts its fds before and after using dmasync sees no difference.
 */
__attribute__((constructor)) static void registry_init(void)
{
	pthread_mutex_lock(&registry_lock);
	if (epfd < 0)
		set_own(&epfd, epoll_create1(EPOLL_CLOEXEC));
	if (epfd >= 0 && ino_fd < 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = INOTIFY_ID };

		set_own(&ino_fd, inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
		if (ino_fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, ino_fd, &ev)) {
			close(ino_fd);
			set_own(&ino_fd, -1);
		}
	}
	pthread_mutex_unlock(&registry_lock);
	core_fork_register(CORE_FORK_REGISTRY, &registry_fork);
}

/* The installed object with @id, with a reference, or NULL. */
static struct uapi_file *get_by_id(u64 id)
{
	struct uapi_file *f;

	pthread_mutex_lock(&registry_lock);
	for (f = hash_bits ? by_id[id_hash(id)] : NULL; f; f = f->id_next)
		if (f->id == id)
			break;
	if (f)
		uapi_file_get(f);
	pthread_mutex_unlock(&registry_lock);
	return f;
}

/* ---- monitor ---------------------------------------------------------------------- */

static void file_uninstall(struct uapi_file *file, bool fired);
static int handle_inotify(void);

/* Readiness watches are told apart from objects by the low pointer bit. */
#define FD_WATCH_TAG 1ul

static void fire_fd_watch(struct uapi_fd_watch *watch)
{
	/* Take the fd out of the set before @func may close it. */
	pthread_mutex_lock(&registry_lock);
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, watch->fd, NULL);
	pthread_mutex_unlock(&registry_lock);
	watch->func(watch);
}

/* The installed object watched by @wd, with a reference, or NULL. */
static struct uapi_file *get_by_wd(int wd)
{
	struct uapi_file *f;

	pthread_mutex_lock(&registry_lock);
	for (f = hash_bits ? by_wd[wd_hash(wd)] : NULL; f; f = f->wd_next)
		if (f->wd == wd)
			break;
	if (f)
		uapi_file_get(f);
	pthread_mutex_unlock(&registry_lock);
	return f;
}

/* An object's last fd (and mapping) is gone everywhere: release it. */
static void hung_up(struct uapi_file *file, bool fired)
{
	if (file->ops->hangup)
		file->ops->hangup(file);
	file_uninstall(file, fired);
}

/*
 * Releases by the monitor thread, counted so that a closer that no longer
 * finds the object (the monitor uninstalled it first) can wait for its
 * release to end: uapi_file_closed_key().  The monitor is one thread, so
 * its releases end in the order they begin.
 */
static uint32_t monitor_begun, monitor_ended, monitor_waiters;

static void monitor_release(struct uapi_file *file)
{
	__atomic_add_fetch(&monitor_begun, 1, __ATOMIC_SEQ_CST);
	hung_up(file, true);
	uapi_file_put(file);
	__atomic_add_fetch(&monitor_ended, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&monitor_waiters, __ATOMIC_SEQ_CST))
		futex_wake(&monitor_ended, INT_MAX);
}

/* Read the inotify queue: every IN_IGNORED is an inode gone for good.
 * Return: the number of objects released. */
static int handle_inotify(void)
{
	_Alignas(struct inotify_event) char buf[2048];
	int released = 0, fd;
	ssize_t n;

	pthread_mutex_lock(&registry_lock);
	fd = ino_fd;
	pthread_mutex_unlock(&registry_lock);
	if (fd < 0)
		return 0;
	pthread_mutex_lock(&ino_lock);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct inotify_event *e = (void *)(buf + off);
			struct uapi_file *file;

			off += (ssize_t)(sizeof(*e) + e->len);
			if (!(e->mask & IN_IGNORED))
				continue;
			file = get_by_wd(e->wd);
			if (!file)
				continue;
			monitor_release(file);
			released++;
		}
	}
	pthread_mutex_unlock(&ino_lock);
	return released;
}

/*
 * A settler's ping (uapi_files_settle()).  In the monitor thread: every
 * event that was ready before the ping has been handled (the ready list is
 * first in, first out, and the monitor handles its rounds in order), so
 * answer it.  Elsewhere (a thread draining hang-ups took it): give it back
 * to the monitor, re-armed once that thread's drain is over.
 */
static bool ping_taken;

/* The ping's registration, one-shot, armed again. */
static void ping_rearm(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = PING_ID };
	int ep, pf;

	pthread_mutex_lock(&registry_lock);
	ep = epfd;
	pf = ping_fd;
	pthread_mutex_unlock(&registry_lock);
	if (ep >= 0 && pf >= 0)
		epoll_ctl(ep, EPOLL_CTL_MOD, pf, &ev);
}

static void handle_ping(void)
{
	uint64_t v;

	if (!in_monitor) {
		__atomic_store_n(&ping_taken, true, __ATOMIC_RELAXED);
		return;
	}
	if (read(__atomic_load_n(&ping_fd, __ATOMIC_RELAXED), &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing written, which cannot be; answer anyway */
	}
	__atomic_store_n(&pings_done, __atomic_load_n(&pings_asked, __ATOMIC_SEQ_CST),
			 __ATOMIC_SEQ_CST);
	futex_wake(&pings_done, INT_MAX);
	ping_rearm();
}

/* Return: the number of hang-ups (closed objects) among the events. */
static int handle_events(struct epoll_event *ev, int n)
{
	int hangups = 0;

	for (int i = 0; i < n; i++) {
		struct uapi_file *file;

		if (ev[i].data.u64 == INOTIFY_ID) {
			hangups += handle_inotify();
			continue;
		}
		if (ev[i].data.u64 == PING_ID) {
			handle_ping();
			continue;
		}
		if (ev[i].data.u64 & FD_WATCH_TAG) {
			fire_fd_watch((void *)(uintptr_t)(ev[i].data.u64 & ~(u64)FD_WATCH_TAG));
			continue;
		}
		hangups++;
		file = get_by_id(ev[i].data.u64);
		if (!file)
			continue; /* uninstalled meanwhile */
		/* EPOLLONESHOT: the registration is disabled already, and
		 * goes with the watch fd's close; no EPOLL_CTL_DEL needed. */
		monitor_release(file);
	}
	return hangups;
}

/*
 * After a round that released closed objects, the monitor lets further
 * closes pile up for this long before it waits again: a close that finds
 * the monitor blocked in epoll_wait() pays for waking it (a cross-CPU
 * wake-up, the dearest part of closing a sync file), one that finds it
 * busy or asleep only queues an event.  A program closing sync files at a
 * high rate so wakes it once per period instead of once per close; an
 * isolated close is still handled at once.  Readiness watches (foreign
 * sync files) may be delayed by up to this much after such a round.
 */
#define MONITOR_BATCH_NS 250000

static void *monitor_main(void *arg)
{
	int fd = (int)(long)arg;
	struct epoll_event ev[32];
	int hangups;

	/* This thread sleeps for long: let its deferred frees complete
	 * without it, and hand them over after every round. */
	core_rcu_thread_free_in_worker();
	in_monitor = true;
	for (;;) {
		int n = epoll_wait(fd, ev, 32, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		hangups = handle_events(ev, n);
		core_rcu_flush();
		if (hangups && n < 32) {
			struct timespec ts = ktime_to_timespec(MONITOR_BATCH_NS);

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int uapi_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* The thread must not take the program's signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&th, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -r;
}

/* registry_lock held */
static int monitor_start_locked(void)
{
	int r;

	if (epfd < 0) {
		set_own(&epfd, epoll_create1(EPOLL_CLOEXEC));
		if (epfd < 0)
			return -errno;
	}
	if (monitor_running)
		return 0;
	r = uapi_thread_start(monitor_main, (void *)(long)epfd);
	if (r)
		return r;
	monitor_running = true;
	return 0;
}

static struct uapi_reaper *reapers;

void uapi_reaper_register(struct uapi_reaper *reaper)
{
	pthread_mutex_lock(&registry_lock);
	reaper->next = reapers;
	reapers = reaper;
	pthread_mutex_unlock(&registry_lock);
}

int uapi_files_drain(void)
{
	struct epoll_event ev[32];
	int total = 0, n, fd;

	/* Releases take fence locks: not from inside one. */
	if (core_spinlocks_held())
		return 0;
	pthread_mutex_lock(&registry_lock);
	fd = epfd;
	pthread_mutex_unlock(&registry_lock);
	if (fd < 0)
		return 0;
	while ((n = epoll_wait(fd, ev, 32, 0)) > 0)
		total += handle_events(ev, n);
	if (__atomic_exchange_n(&ping_taken, false, __ATOMIC_ACQ_REL))
		ping_rearm();	/* the monitor's to answer */
	return total;
}

int uapi_files_settle(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = PING_ID };
	bool ping = false;
	uint32_t t, done;
	int n;

	if (core_spinlocks_held() || in_monitor)
		return 0;
	n = uapi_files_drain();
	/* One settler at a time: one ping in flight, answered for it. */
	pthread_mutex_lock(&settle_lock);
	pthread_mutex_lock(&registry_lock);
	if (monitor_running && epfd >= 0 && ping_fd < 0) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			fd = -1;
		}
		set_own(&ping_fd, fd);
	}
	ping = monitor_running && ping_fd >= 0;
	if (ping) {
		uint64_t one = 1;

		t = __atomic_add_fetch(&pings_asked, 1, __ATOMIC_SEQ_CST);
		ping = write(ping_fd, &one, sizeof(one)) == sizeof(one);
	}
	pthread_mutex_unlock(&registry_lock);
	while (ping && (int32_t)(t - (done = __atomic_load_n(&pings_done, __ATOMIC_SEQ_CST))) > 0)
		futex_wait_until(&pings_done, done, -1);
	pthread_mutex_unlock(&settle_lock);
	return n;
}

bool uapi_files_reclaim_fds(int err)
{
	return (err == EMFILE || err == ENFILE) && uapi_files_drain();
}

/*
 * Backpressure: closed-but-unreleased objects stay installed until their
 * hang-up is handled, so uapi_installed_count bounds them.  When it has doubled
 * since the last drain (and is at least DRAIN_MIN), the creating thread
 * handles pending hang-ups itself instead of waiting for the monitor.
 * When it has fallen to a quarter of the threshold, the objects live at
 * the last drain are mostly gone: drain once more to set the threshold
 * from the objects live now.  Without that, a burst of live objects left
 * the threshold at twice its size for good, and a later backlog of closed
 * ones could grow that far (EMFILE in a program's own pipe2() at a low
 * RLIMIT_NOFILE, after a stress test with hundreds of objects).
 */
#define DRAIN_MIN 64u
static unsigned int drain_threshold = DRAIN_MIN;

void uapi_files_maybe_drain(void)
{
	unsigned int n, t;
	bool drain;

	if (core_spinlocks_held())
		return;
	pthread_mutex_lock(&registry_lock);
	n = uapi_installed_count;
	t = drain_threshold;
	pthread_mutex_unlock(&registry_lock);
	drain = n >= t || (t > DRAIN_MIN && n < t / 4);
	if (!drain)
		return;
	uapi_files_drain();
	pthread_mutex_lock(&registry_lock);
	drain_threshold = uapi_installed_count * 2 > DRAIN_MIN ? uapi_installed_count * 2 : DRAIN_MIN;
	pthread_mutex_unlock(&registry_lock);
}

/* A counter of the registry's, read under its lock. */
static unsigned int registry_read(const unsigned int *v)
{
	unsigned int n;

	pthread_mutex_lock(&registry_lock);
	n = *v;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

unsigned int uapi_files_drain_threshold(void)
{
	return registry_read(&drain_threshold);
}

int uapi_files_reap(void)
{
	struct uapi_reaper *r;
	int total = 0;

	pthread_mutex_lock(&registry_lock);
	r = reapers;
	pthread_mutex_unlock(&registry_lock);
	/* Registered reapers are never removed: the list can be walked unlocked. */
	for (; r; r = r->next)
		total += r->reap();
	return total + uapi_files_drain();
}

unsigned int uapi_files_count(void)
{
	return registry_read(&uapi_installed_count);
}

int uapi_file_word(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, &len) || len != sizeof(v))
		return -1;
	return v;
}

int uapi_file_set_word(int fd, int word)
{
	return setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &word, sizeof(word)) ? -errno : 0;
}

/* ---- registry ------------------------------------------------------------------- */

/* With registry_lock held and the tables fitted: @file joins the registry,
 * which takes a reference. */
static void link_locked(struct uapi_file *file)
{
	unsigned int h = hash(file->dev, file->ino);

	uapi_file_get(file);
	file->installed = true;
	file->hash_next = table[h];
	table[h] = file;
	if (file->id) {
		h = id_hash(file->id);
		file->id_next = by_id[h];
		by_id[h] = file;
	}
	if (file->wd >= 0) {
		h = wd_hash(file->wd);
		file->wd_next = by_wd[h];
		by_wd[h] = file;
	}
	__atomic_store_n(&uapi_installed_count, uapi_installed_count + 1, __ATOMIC_RELAXED);
}

int uapi_file_install(struct uapi_file *file, int user_fd, int watch_fd, int ofd_fd)
{
	struct stat st;
	int r;

	if (fstat(user_fd, &st))
		return -errno;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->watch_fd = watch_fd;
	file->ofd_fd = ofd_fd;

	pthread_mutex_lock(&registry_lock);
	r = tables_fit(uapi_installed_count + 1);
	if (!r && watch_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLONESHOT };

		file->id = next_id;
		next_id += 2;
		ev.data.u64 = file->id;

		r = monitor_start_locked();
		if (!r && epoll_ctl(epfd, EPOLL_CTL_ADD, watch_fd, &ev))
			r = -errno;
	}
	if (r) {
		pthread_mutex_unlock(&registry_lock);
		file->watch_fd = -1;
		file->ofd_fd = -1;
		return r;
	}
	link_locked(file);
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

int uapi_file_install_inode(struct uapi_file *file, int user_fd)
{
	char path[40];
	struct stat st;
	int r, wd;

	if (fstat(user_fd, &st))
		return -errno;
	pthread_mutex_lock(&registry_lock);
	r = tables_fit(uapi_installed_count + 1);
	if (!r)
		r = monitor_start_locked();
	if (!r && ino_fd < 0) {
		/* Made at load time; again in a fork child that needs one. */
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = INOTIFY_ID };

		set_own(&ino_fd, inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
		if (ino_fd < 0) {
			r = -errno;
		} else if (epoll_ctl(epfd, EPOLL_CTL_ADD, ino_fd, &ev)) {
			r = -errno;
			close(ino_fd);
			set_own(&ino_fd, -1);
		}
	}
	if (r) {
		pthread_mutex_unlock(&registry_lock);
		return r;
	}
	/*
	 * Through /proc: a memfd has no name of its own.  The watch holds no
	 * reference that would keep the inode alive.  Any mask will do:
	 * IN_IGNORED comes when the inode goes, whatever was asked for.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", user_fd);
	wd = inotify_add_watch(ino_fd, path, IN_DELETE_SELF);
	if (wd < 0) {
		r = errno == ENOSPC ? -ENOMEM : -errno;
		pthread_mutex_unlock(&registry_lock);
		return r;
	}
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->wd = wd;
	link_locked(file);
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

struct uapi_file *uapi_file_lookup_key(dev_t dev, ino_t ino)
{
	struct uapi_file *f;

	pthread_mutex_lock(&registry_lock);
	for (f = hash_bits ? table[hash(dev, ino)] : NULL; f; f = f->hash_next)
		if (f->dev == dev && f->ino == ino)
			break;
	if (f)
		uapi_file_get(f);
	pthread_mutex_unlock(&registry_lock);
	return f;
}

void uapi_file_for_each(const struct uapi_file_ops *ops,
			void (*fn)(struct uapi_file *file, void *arg), void *arg)
{
	struct uapi_file **snap = NULL;
	unsigned int n = 0, cap;

	pthread_mutex_lock(&registry_lock);
	cap = uapi_installed_count;
	if (cap)
		snap = malloc(cap * sizeof(*snap));
	for (unsigned int i = 0; snap && n < cap && i < buckets_locked(); i++) {
		for (struct uapi_file *f = table[i]; f && n < cap; f = f->hash_next) {
			if (ops && f->ops != ops)
				continue;
			uapi_file_get(f);
			snap[n++] = f;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	for (unsigned int i = 0; i < n; i++) {
		fn(snap[i], arg);
		uapi_file_put(snap[i]);
	}
	free(snap);
}

int uapi_files_drain_inodes(void)
{
	if (core_spinlocks_held())
		return 0;
	return handle_inotify();
}

int uapi_fd_watch_arm(struct uapi_fd_watch *watch)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLONESHOT,
		.data.ptr = (void *)((uintptr_t)watch | FD_WATCH_TAG),
	};
	int r;

	pthread_mutex_lock(&registry_lock);
	r = monitor_start_locked();
	if (!r && epoll_ctl(epfd, EPOLL_CTL_ADD, watch->fd, &ev))
		r = -errno;
	pthread_mutex_unlock(&registry_lock);
	return r;
}

void uapi_file_uninstall(struct uapi_file *file)
{
	file_uninstall(file, false);
}

/* @fired: the watch fd's one-shot registration has fired (and is off). */
static void file_uninstall(struct uapi_file *file, bool fired)
{
	struct uapi_file **p;
	bool was = false;

	pthread_mutex_lock(&registry_lock);
	if (file->installed) {
		for (p = &table[hash(file->dev, file->ino)]; *p; p = &(*p)->hash_next) {
			if (*p == file) {
				*p = file->hash_next;
				break;
			}
		}
		if (file->id) {
			for (p = &by_id[id_hash(file->id)]; *p; p = &(*p)->id_next) {
				if (*p == file) {
					*p = file->id_next;
					break;
				}
			}
		}
		if (file->wd >= 0) {
			for (p = &by_wd[wd_hash(file->wd)]; *p; p = &(*p)->wd_next) {
				if (*p == file) {
					*p = file->wd_next;
					break;
				}
			}
			if (!fired && ino_fd >= 0)
				inotify_rm_watch(ino_fd, file->wd);
			file->wd = -1;
		}
		file->installed = false;
		__atomic_store_n(&uapi_installed_count, uapi_installed_count - 1, __ATOMIC_RELAXED);
		was = true;
		if (file->watch_fd >= 0 && epfd >= 0 && !fired)
			epoll_ctl(epfd, EPOLL_CTL_DEL, file->watch_fd, NULL);
	}
	pthread_mutex_unlock(&registry_lock);
	if (was)
		uapi_file_put(file);
}

void uapi_file_closed(struct uapi_file *file)
{
	struct pollfd p = { .fd = file->watch_fd, .events = POLLRDHUP };
	int refs;

	if (file->watch_fd >= 0) {
		/*
		 * watch_fd is ours for as long as @file lives (the caller's
		 * reference keeps it), so polling it by number is safe.  No
		 * hang-up: another copy of the user's fd is open somewhere.
		 */
		if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLRDHUP | POLLHUP))) {
			uapi_file_put(file);
			return;
		}
		hung_up(file, false);
	} else {
		bool gone;

		/* A memfd: its last close queued IN_IGNORED before returning,
		 * and whoever read it has handled it once ino_lock is free. */
		handle_inotify();
		pthread_mutex_lock(&registry_lock);
		gone = !file->installed;
		pthread_mutex_unlock(&registry_lock);
		if (!gone) {
			uapi_file_put(file);
			return;
		}
	}
	/*
	 * Other references are transient: the monitor handling the same
	 * hang-up, or another thread's request on the fd still in flight
	 * (the kernel too releases the file when such a request ends).
	 * Wait for them, so that the release runs here, before close returns.
	 */
	refs = __atomic_or_fetch(&file->refs, FILE_CLOSER_WAITS, __ATOMIC_ACQ_REL);
	while ((refs & ~FILE_CLOSER_WAITS) > 1) {
		futex_wait_until((uint32_t *)&file->refs, (uint32_t)refs, -1);
		refs = __atomic_load_n(&file->refs, __ATOMIC_ACQUIRE);
	}
	__atomic_and_fetch(&file->refs, ~FILE_CLOSER_WAITS, __ATOMIC_ACQ_REL);
	uapi_file_put(file);
}

void uapi_file_closed_key(dev_t dev, ino_t ino)
{
	struct uapi_file *file = uapi_file_lookup_key(dev, ino);
	uint32_t target, ended;

	if (file) {
		uapi_file_closed(file);
		return;
	}
	/* Read after the lookup: a release that made it fail has begun. */
	target = __atomic_load_n(&monitor_begun, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&monitor_waiters, 1, __ATOMIC_SEQ_CST);
	while ((int32_t)(target - (ended = __atomic_load_n(&monitor_ended, __ATOMIC_SEQ_CST))) > 0)
		futex_wait_until(&monitor_ended, ended, -1);
	__atomic_sub_fetch(&monitor_waiters, 1, __ATOMIC_SEQ_CST);
}

/* ---- listings ------------------------------------------------------------------------ */

const char *uapi_show_str(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

void uapi_show_fence(FILE *out, const char *usage, struct dma_fence *fence)
{
	char drv[UAPI_SHOW_STR_MAX], tl[UAPI_SHOW_STR_MAX];
	int status = dma_fence_get_status(fence);
	long long ts = 0;

	if (status && test_bit(DMA_FENCE_FLAG_TIMESTAMP_BIT, &fence->flags))
		ts = (long long)fence->timestamp;
	fprintf(out, "fence\t%s\t%s\t%s\t%llu\t%llu\t%d\t%lld\n", usage,
		uapi_show_str(dma_fence_driver_name(fence), drv, sizeof(drv)),
		uapi_show_str(dma_fence_timeline_name(fence), tl, sizeof(tl)),
		(unsigned long long)fence->context, (unsigned long long)fence->seqno, status, ts);
}

static bool same_ofd(int a, int b)
{
	return syscall(SYS_kcmp, (long)getpid(), (long)getpid(), (long)KCMP_FILE, (long)a,
		       (long)b) == 0;
}

static struct uapi_file *lookup(int fd, const struct uapi_file_ops *ops)
{
	struct uapi_file *found = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (struct uapi_file *f = hash_bits ? table[hash(st.st_dev, st.st_ino)] : NULL; f;
	     f = f->hash_next) {
		if (f->dev != st.st_dev || f->ino != st.st_ino)
			continue;
		if (ops && f->ops != ops)
			continue;
		if (f->ofd_fd >= 0 && !same_ofd(fd, f->ofd_fd))
			continue;
		if (f->ops->match && !f->ops->match(f, fd))
			continue;
		found = f;
		uapi_file_get(f);
		break;
	}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

struct uapi_file *uapi_file_lookup(int fd)
{
	return lookup(fd, NULL);
}

struct uapi_file *uapi_file_lookup_type(int fd, const struct uapi_file_ops *ops)
{
	return lookup(fd, ops);
}

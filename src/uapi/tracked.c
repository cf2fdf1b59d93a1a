/* SPDX-License-Identifier: MIT */
/*
 * Tracked objects: the fds dmasync hands out that cannot be watched for
 * hang-ups (dma-bufs, /dev/udmabuf, /dev/dma_heap/system), and the reap
 * passes that find out when their last fd is gone (see tracked.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "fork.h"
#include "ktime.h"
#include "rcu.h"
#include "tracked.h"

/* ---- tracked objects ------------------------------------------------------------- */

static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(tracked_list);
static unsigned int tracked_count;
/* A pass runs when tracked_count reaches this (twice the survivors of the
 * last pass, at least REAP_MIN). */
#define REAP_MIN 64u
static unsigned int reap_threshold = REAP_MIN;
static pthread_mutex_t reap_mutex = PTHREAD_MUTEX_INITIALIZER;
static ktime_t last_reap;
static pthread_once_t tracked_once = PTHREAD_ONCE_INIT;

static int reaper_run(void)
{
	return uapi_tracked_reap();
}

/*
 * The background pass: while tracked objects exist, a thread runs a pass
 * every REAP_PERIOD, or less often when a pass is expensive (a hundred
 * times its last duration, so that it costs at most ~1% of a core however
 * many fds the process has).  That bounds how long a closed dma-buf keeps
 * its fences, epoll registrations and memory.
 */
#define REAP_PERIOD (200 * NSEC_PER_MSEC)
static bool bg_running;		/* under tracked_lock */
static ktime_t bg_period = REAP_PERIOD;

static int reap_locked(void);

static void *bg_main(void *arg)
{
	(void)arg;
	/* This thread sleeps for long: its deferred frees go to liburcu's
	 * worker, so that any thread's dmasync_rcu_barrier() covers them. */
	core_rcu_thread_free_in_worker();
	for (;;) {
		ktime_t period = __atomic_load_n(&bg_period, __ATOMIC_RELAXED);
		struct timespec ts = ktime_to_timespec(period);

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		if (!__atomic_load_n(&tracked_count, __ATOMIC_RELAXED))
			continue;
		if (!pthread_mutex_trylock(&reap_mutex)) {
			ktime_t t0 = ktime_get(), cost;

			reap_locked();
			pthread_mutex_unlock(&reap_mutex);
			cost = ktime_get() - t0;
			__atomic_store_n(&bg_period, cost * 100 > REAP_PERIOD ? cost * 100 : REAP_PERIOD,
					 __ATOMIC_RELAXED);
			core_rcu_flush();
		}
	}
	return NULL;
}

/* tracked_lock held. */
static void bg_start_locked(void)
{
	if (!bg_running)
		bg_running = !uapi_thread_start(bg_main, NULL);
}

static struct uapi_reaper tracked_reaper = { .reap = reaper_run };

/*
 * Only the leaf lock is held across fork(): reap_mutex is taken before the
 * registry's lock by a pass, and the registry's own fork handler holds that
 * one, so taking reap_mutex here could deadlock against a running pass.  A
 * pass in progress in another thread simply does not exist in the child.
 */
static void fork_prepare(void)
{
	pthread_mutex_lock(&tracked_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&tracked_lock);
}

/*
 * The registry forgets every object in a fork child (file.c); so do we.
 * Memory shared through MAP_SHARED mappings and the fds themselves are
 * the kernel's and stay shared.  Objects drop their process-local state
 * (a dma-buf closes our copies of its epoll mirror fds; the parent's stay
 * registered).
 */
static void tracked_fork_child(void)
{
	struct uapi_tracked *t;

	list_for_each_entry(t, &tracked_list, node) {
		t->listed = false;
		if (t->fork_child)
			t->fork_child(t);
	}
	INIT_LIST_HEAD(&tracked_list);
	__atomic_store_n(&tracked_count, 0, __ATOMIC_RELAXED);
	bg_running = false;	/* threads do not survive fork() */
	reap_threshold = REAP_MIN;
	pthread_mutex_init(&tracked_lock, NULL);
	pthread_mutex_init(&reap_mutex, NULL);
}

static void tracked_init_once(void)
{
	uapi_reaper_register(&tracked_reaper);
}

void uapi_tracked_init(struct uapi_tracked *t, const struct uapi_file_ops *ops,
		       enum tracked_kind kind)
{
	DMASYNC_ASSERT(ops->match == uapi_tracked_match && ops->flush == uapi_tracked_flush,
		       "a tracked object's ops must use the tracked match and flush");
	uapi_file_init(&t->file, ops);
	t->kind = kind;
	t->cookie = 0;
	t->listed = false;
	INIT_LIST_HEAD(&t->node);
	t->died = NULL;
	t->survived = NULL;
	t->fork_child = NULL;
}

static int socket_cookie(int fd, u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len))
		return -errno;
	return 0;
}

bool uapi_tracked_match(struct uapi_file *file, int fd)
{
	struct uapi_tracked *t = container_of(file, struct uapi_tracked, file);
	u64 cookie;

	/* A memfd's inode is pinned: (device, inode) is proof enough. */
	if (t->kind == TRACKED_MEMFD)
		return true;
	return socket_cookie(fd, &cookie) == 0 && cookie == t->cookie;
}

unsigned int uapi_tracked_count(void)
{
	unsigned int n;

	pthread_mutex_lock(&tracked_lock);
	n = tracked_count;
	pthread_mutex_unlock(&tracked_lock);
	return n;
}

int uapi_tracked_install(struct uapi_tracked *t, int fd)
{
	bool reap;
	int r;

	pthread_once(&tracked_once, tracked_init_once);
	if (t->kind == TRACKED_SOCKET) {
		r = socket_cookie(fd, &t->cookie);
		if (r)
			return r;
	}
	pthread_mutex_lock(&tracked_lock);
	reap = tracked_count + 1 >= reap_threshold;
	pthread_mutex_unlock(&tracked_lock);
	if (reap && !pthread_mutex_trylock(&reap_mutex)) {
		reap_locked();
		pthread_mutex_unlock(&reap_mutex);
	}

	r = uapi_file_install(&t->file, fd, -1, -1);
	if (r)
		return r;
	pthread_mutex_lock(&tracked_lock);
	bg_start_locked();
	list_add_tail(&t->node, &tracked_list);
	t->listed = true;
	__atomic_store_n(&tracked_count, tracked_count + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&tracked_lock);
	return 0;
}

/* ---- reap passes ------------------------------------------------------------------ */

struct ino_key {
	dev_t dev;
	ino_t ino;
};

static int key_cmp(const void *a, const void *b)
{
	const struct ino_key *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/*
 * The fd table is read through one directory fd on /proc/self/fd, opened
 * when the library loads and kept: a pass that opened the directory for
 * itself would make an fd appear and vanish at a moment the program does
 * not choose (the background pass runs on its own thread), which a program
 * that counts its fds, as test suites do, sees as a leak or a stray close.
 * scan_lock serialises the passes' use of its offset.  A fork child gets a
 * directory of its own at the same number (fork_child()); if the program
 * closed ours or put something else at its number, a pass notices by the
 * inode and opens a new one.
 */
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
static int scan_dfd = -1;
static struct ino_key scan_dir;

/* scan_lock held (or single-threaded). */
static int scan_dir_open_locked(void)
{
	struct stat st;
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int e = errno;

		close(fd);
		return -e;
	}
	scan_dfd = fd;
	scan_dir.dev = st.st_dev;
	scan_dir.ino = st.st_ino;
	return 0;
}

/* In a fork child: the inherited directory lists the parent's fds (and
 * shares its offset); replace it at the same number.  A pass that another
 * thread was running does not exist in the child. */
static void scan_dir_fork_child(void)
{
	int old = scan_dfd;
	struct stat st;

	pthread_mutex_init(&scan_lock, NULL);
	if (old < 0)
		return;
	/* Only a number that still holds our directory is ours to replace:
	 * the program may have closed it and reused the number. */
	if (fstat(old, &st) || st.st_dev != scan_dir.dev || st.st_ino != scan_dir.ino) {
		scan_dfd = -1;
		return;
	}
	if (scan_dir_open_locked())
		return;
	if (dup3(scan_dfd, old, O_CLOEXEC) == old) {
		close(scan_dfd);
		scan_dfd = old;
	} else {
		close(old);	/* keep the new number instead */
	}
}

static void fork_child(void)
{
	tracked_fork_child();
	scan_dir_fork_child();
}

static const struct core_fork_handler tracked_fork = {
	.prepare = fork_prepare,
	.parent = fork_parent,
	.child = fork_child,
};

__attribute__((constructor)) static void tracked_init(void)
{
	pthread_mutex_lock(&scan_lock);
	if (scan_dfd < 0)
		scan_dir_open_locked();
	pthread_mutex_unlock(&scan_lock);
	core_fork_register(CORE_FORK_TRACKED, &tracked_fork);
}

/* scan_lock held: a usable directory fd, rewound, or a negative errno. */
static int scan_dir_get_locked(void)
{
	struct stat st;

	if (scan_dfd >= 0 && (fstat(scan_dfd, &st) || st.st_dev != scan_dir.dev ||
			      st.st_ino != scan_dir.ino))
		scan_dfd = -1;	/* closed or replaced by the program: not ours */
	if (scan_dfd < 0) {
		int r = scan_dir_open_locked();

		if (r)
			return r;
	}
	if (lseek(scan_dfd, 0, SEEK_SET) < 0)
		return -errno;
	return scan_dfd;
}

struct linux_dirent64 {
	u64 d_ino;
	s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * The (device, inode) of every fd of the process, sorted; or, with @want,
 * stop early and return 1 as soon as an fd has that inode (0 if none).
 * Return: the number of keys, or a negative errno.
 */
static long scan_fds(struct ino_key **keys, const struct ino_key *want)
{
	_Alignas(8) char buf[4096];
	struct ino_key *v = NULL;
	size_t n = 0, cap = 0;
	long ret = 0;
	int dfd;

	pthread_mutex_lock(&scan_lock);
	dfd = scan_dir_get_locked();
	if (dfd < 0) {
		pthread_mutex_unlock(&scan_lock);
		return dfd;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

		if (got < 0) {
			ret = -errno;
			goto out;
		}
		if (got == 0)
			break;
		for (long off = 0; off < got;) {
			struct linux_dirent64 *e = (void *)(buf + off);
			struct stat st;
			char *end;
			long fd;

			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			fd = strtol(e->d_name, &end, 10);
			if (*end || fd == dfd)
				continue;
			/*
			 * Through the /proc link rather than fstat(fd): other
			 * threads close and reuse fds meanwhile, which is
			 * harmless here (a miss or a stale hit), and the path
			 * keeps race detectors from taking it for an
			 * unsynchronised use of their fd.
			 */
			if (fstatat(dfd, e->d_name, &st, 0))
				continue;
			if (want) {
				if (st.st_dev == want->dev && st.st_ino == want->ino) {
					ret = 1;
					goto out;
				}
				continue;
			}
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct ino_key *nv = realloc(v, ncap * sizeof(*v));

				if (!nv) {
					ret = -ENOMEM;
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			v[n].dev = st.st_dev;
			v[n].ino = st.st_ino;
			n++;
		}
	}
out:
	pthread_mutex_unlock(&scan_lock);
	if (want || ret < 0) {
		free(v);
		return ret;
	}
	qsort(v, n, sizeof(*v), key_cmp);
	*keys = v;
	return (long)n;
}

static bool key_present(const struct ino_key *keys, long n, const struct uapi_tracked *t)
{
	struct ino_key k = { t->file.dev, t->file.ino };

	return bsearch(&k, keys, (size_t)n, sizeof(k), key_cmp) != NULL;
}

/* No fd refers to @t any more: drop the registry's reference. */
static bool tracked_kill(struct uapi_tracked *t)
{
	bool mine;

	pthread_mutex_lock(&tracked_lock);
	mine = t->listed;
	if (mine) {
		list_del_init(&t->node);
		t->listed = false;
		__atomic_store_n(&tracked_count, tracked_count - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&tracked_lock);
	if (!mine)
		return false;
	if (t->died)
		t->died(t);
	uapi_file_uninstall(&t->file);
	return true;
}

/* reap_mutex held. */
static int reap_locked(void)
{
	struct snap {
		struct uapi_tracked *t;
		bool alive;
	} *snap;
	struct uapi_tracked *t;
	struct ino_key *keys = NULL;
	unsigned int n = 0, i;
	int released = 0;
	long nkeys;
	bool suspects = false;

	__atomic_store_n(&last_reap, ktime_get(), __ATOMIC_RELAXED);
	pthread_mutex_lock(&tracked_lock);
	snap = malloc((tracked_count ? tracked_count : 1) * sizeof(*snap));
	if (snap) {
		list_for_each_entry(t, &tracked_list, node) {
			uapi_file_get(&t->file);
			snap[n].t = t;
			snap[n].alive = false;
			n++;
		}
	}
	pthread_mutex_unlock(&tracked_lock);
	if (!snap || !n)
		goto out;

	/* First pass: who has no fd? */
	nkeys = scan_fds(&keys, NULL);
	if (nkeys < 0)
		goto out_put;
	for (i = 0; i < n; i++) {
		snap[i].alive = key_present(keys, nkeys, snap[i].t);
		suspects |= !snap[i].alive;
	}
	free(keys);
	keys = NULL;
	/* Second pass for the suspects: an fd dup2()ed to a higher number
	 * while the first pass ran is seen now. */
	if (suspects) {
		nkeys = scan_fds(&keys, NULL);
		if (nkeys < 0)
			goto out_put;
		for (i = 0; i < n; i++) {
			if (snap[i].alive)
				continue;
			snap[i].alive = key_present(keys, nkeys, snap[i].t);
			if (!snap[i].alive && tracked_kill(snap[i].t))
				released++;
		}
		free(keys);
	}
	/* Live objects: e.g. epoll registrations whose epoll set was closed. */
	for (i = 0; i < n; i++) {
		t = snap[i].t;
		if (snap[i].alive && t->survived)
			t->survived(t);
	}
out_put:
	for (i = 0; i < n; i++)
		uapi_file_put(&snap[i].t->file);
out:
	free(snap);
	pthread_mutex_lock(&tracked_lock);
	reap_threshold = tracked_count * 2 > REAP_MIN ? tracked_count * 2 : REAP_MIN;
	pthread_mutex_unlock(&tracked_lock);
	return released;
}

int uapi_tracked_reap(void)
{
	int r;

	pthread_mutex_lock(&reap_mutex);
	r = reap_locked();
	pthread_mutex_unlock(&reap_mutex);
	return r;
}

void uapi_tracked_maybe_reap(void)
{
	ktime_t now;

	if (!__atomic_load_n(&tracked_count, __ATOMIC_RELAXED))
		return;
	now = ktime_get();
	if (now - __atomic_load_n(&last_reap, __ATOMIC_RELAXED) < NSEC_PER_SEC)
		return;
	if (pthread_mutex_trylock(&reap_mutex))
		return;
	reap_locked();
	pthread_mutex_unlock(&reap_mutex);
}

/*
 * The flush op of tracked objects: dmasync_close() closed one of @file's
 * fds.  If no fd of the process refers to the object any more (in two
 * passes over the fd table, as a reap pass), it is released now.
 */
void uapi_tracked_flush(struct uapi_file *file)
{
	struct uapi_tracked *t = container_of(file, struct uapi_tracked, file);
	struct ino_key k = { t->file.dev, t->file.ino };

	if (scan_fds(NULL, &k) == 0 && scan_fds(NULL, &k) == 0)
		tracked_kill(t);
}

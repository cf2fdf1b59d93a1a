/* SPDX-License-Identifier: MIT */
/*
 * dma-buf objects: export, fds, references, CPU access, names, the dma-buf
 * ioctls (SYNC, SET_NAME, EXPORT_SYNC_FILE, IMPORT_SYNC_FILE), the
 * dmasync_mmap()/dmasync_lseek()/dmasync_close() wrappers, and the tracking
 * of fds that cannot be watched for hang-ups (see dma-buf-priv.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dma-fence-unwrap.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sync_file.h>
#include "debug.h"
#include "dma-buf-priv.h"
#include "rcu.h"
#include "sync_file-priv.h"
#include "uaccess.h"

#define PAGE DMABUF_PAGE_SIZE
#define NSEC_PER_SEC 1000000000ll

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
#define REAP_PERIOD (200 * 1000000ll)
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
		struct timespec ts = { period / 1000000000, period % 1000000000 };

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
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t th;

	if (bg_running)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* The thread must not take the program's signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	bg_running = !pthread_create(&th, &attr, bg_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
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
 * the kernel's and stay shared.  Our copies of epoll mirror fds are closed
 * (the parent's stay registered).
 */
static void fork_child(void)
{
	struct uapi_tracked *t;

	list_for_each_entry(t, &tracked_list, node) {
		t->listed = false;
		if (t->file.ops == &uapi_dmabuf_ops)
			uapi_dmabuf_poll_fork_child_obj(container_of(t, struct uapi_dmabuf, t));
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
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void uapi_tracked_init(struct uapi_tracked *t, const struct uapi_file_ops *ops,
		       enum tracked_kind kind)
{
	uapi_file_init(&t->file, ops);
	t->kind = kind;
	t->cookie = 0;
	t->listed = false;
	INIT_LIST_HEAD(&t->node);
	t->died = NULL;
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

int uapi_tracked_open_socket(struct uapi_tracked *t, int flags)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0), 0);
	int r;

	if (fd < 0)
		return -errno;
	r = uapi_tracked_install(t, fd);
	if (r) {
		close(fd);
		return r;
	}
	uapi_file_put(&t->file);
	return fd;
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

__attribute__((constructor)) static void scan_dir_init(void)
{
	pthread_mutex_lock(&scan_lock);
	if (scan_dfd < 0)
		scan_dir_open_locked();
	pthread_mutex_unlock(&scan_lock);
	pthread_atfork(NULL, NULL, scan_dir_fork_child);
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
	/* Epoll registrations of live buffers whose epoll set was closed. */
	for (i = 0; i < n; i++) {
		t = snap[i].t;
		if (snap[i].alive && t->file.ops == &uapi_dmabuf_ops)
			uapi_dmabuf_poll_reap_orphans(container_of(t, struct uapi_dmabuf, t));
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

int dmasync_close(int fd)
{
	struct uapi_file *file = uapi_file_lookup(fd);
	struct uapi_tracked *t;
	struct ino_key k;
	int r, e;

	if (!file)
		return close(fd);
	if (file->ops->match != uapi_tracked_match) {
		uapi_file_put(file);
		return uapi_file_close_fd(fd);
	}
	t = container_of(file, struct uapi_tracked, file);
	r = close(fd);
	e = errno;
	k.dev = t->file.dev;
	k.ino = t->file.ino;
	/* Linux closes the fd even when close() reports an error. */
	if (scan_fds(NULL, &k) == 0 && scan_fds(NULL, &k) == 0)
		tracked_kill(t);
	uapi_file_put(file);
	errno = e;
	return r;
}

/* ---- dma-buf objects --------------------------------------------------------------- */

static size_t page_round(size_t size)
{
	return (size + PAGE - 1) & ~(PAGE - 1);
}

static void dmabuf_died(struct uapi_tracked *t)
{
	uapi_dmabuf_poll_died(container_of(t, struct uapi_dmabuf, t));
}

static void dma_buf_file_release(struct uapi_file *file)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	uapi_dmabuf_poll_fini(obj);
	obj->buf.ops->release(&obj->buf);
	if (obj->own_resv_used)
		dma_resv_fini(&obj->own_resv);
	free((char *)obj->buf.name);
	if (obj->pin)
		munmap(obj->pin, PAGE);
	for (unsigned int i = 0; i < obj->npieces; i++)
		munmap(obj->pieces[i].addr, obj->pieces[i].len);
	free(obj->pieces);
	if (obj->fd >= 0)
		close(obj->fd);
	free(obj);
}

struct uapi_dmabuf *uapi_dmabuf_lookup(int fd)
{
	struct uapi_file *file = uapi_file_lookup_type(fd, &uapi_dmabuf_ops);

	return file ? container_of(file, struct uapi_dmabuf, t.file) : NULL;
}

int uapi_fd_reopen(int fd, int accmode)
{
	char path[40];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, accmode | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

struct dma_buf *uapi_dmabuf_export_fd(const struct dma_buf_export_info *info,
				      enum tracked_kind kind, int fd, int accmode)
{
	struct uapi_dmabuf *obj = calloc(1, sizeof(*obj));

	if (!obj)
		return ERR_PTR(-ENOMEM);
	uapi_tracked_init(&obj->t, &uapi_dmabuf_ops, kind);
	obj->t.died = dmabuf_died;
	obj->buf.size = page_round(info->size);
	obj->buf.ops = info->ops;
	obj->buf.exp_name = info->exp_name;
	obj->buf.priv = info->priv;
	spin_lock_init(&obj->buf.name_lock);
	obj->accmode = accmode;
	obj->fd = -1;
	if (kind == TRACKED_MEMFD) {
		/* @fd is O_RDWR here; the pin needs read access. */
		obj->pin = mmap(NULL, PAGE, PROT_NONE, MAP_SHARED, fd, 0);
		if (obj->pin == MAP_FAILED) {
			int e = errno;

			free(obj);
			return ERR_PTR(-e);
		}
		if (accmode != O_RDWR) {
			int nfd = uapi_fd_reopen(fd, accmode);

			if (nfd < 0) {
				munmap(obj->pin, PAGE);
				free(obj);
				return ERR_PTR(nfd);
			}
			close(fd);
			fd = nfd;
		}
	}
	obj->fd = fd;
	if (info->resv) {
		obj->buf.resv = info->resv;
	} else {
		dma_resv_init(&obj->own_resv);
		obj->own_resv_used = true;
		obj->buf.resv = &obj->own_resv;
	}
	uapi_dmabuf_poll_init(obj);
	return &obj->buf;
}

struct dma_buf *dma_buf_export(const struct dma_buf_export_info *exp_info)
{
	struct dma_buf *buf;
	int fd, accmode;
	size_t size;

	if (WARN_ON(!exp_info || !exp_info->ops || !exp_info->ops->release || !exp_info->priv))
		return ERR_PTR(-EINVAL);
	accmode = exp_info->flags & O_ACCMODE;
	size = page_round(exp_info->size);
	if (!exp_info->size || size < exp_info->size ||
	    size > (size_t)INT64_MAX)
		return ERR_PTR(-EINVAL);
	fd = memfd_create("dmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return ERR_PTR(-errno);
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int e = errno;

		close(fd);
		return ERR_PTR(e == EFBIG ? -ENOMEM : -e);
	}
	buf = uapi_dmabuf_export_fd(exp_info, TRACKED_MEMFD, fd, accmode);
	if (IS_ERR(buf))
		close(fd);
	return buf;
}

int dma_buf_fd(struct dma_buf *dmabuf, int flags)
{
	struct uapi_dmabuf *obj;
	int fd, r;

	if (!dmabuf)
		return -EINVAL;
	obj = to_uapi_dmabuf(dmabuf);
	if (__atomic_exchange_n(&obj->fd_given, true, __ATOMIC_ACQ_REL))
		return -EINVAL;
	fd = obj->fd;
	if (!(flags & O_CLOEXEC) && fcntl(fd, F_SETFD, 0)) {
		r = -errno;
		goto fail;
	}
	r = uapi_tracked_install(&obj->t, fd);
	if (r)
		goto fail;
	obj->fd = -1;
	/* The caller's reference is the fd's now, which the registry holds. */
	uapi_dmabuf_put(obj);
	return fd;
fail:
	__atomic_store_n(&obj->fd_given, false, __ATOMIC_RELEASE);
	return r;
}

struct dma_buf *dma_buf_get(int fd)
{
	struct uapi_dmabuf *obj;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return ERR_PTR(-EBADF);
	obj = uapi_dmabuf_lookup(fd);
	return obj ? &obj->buf : ERR_PTR(-EINVAL);
}

void dma_buf_put(struct dma_buf *dmabuf)
{
	if (WARN_ON(IS_ERR_OR_NULL(dmabuf)))
		return;
	uapi_dmabuf_put(to_uapi_dmabuf(dmabuf));
}

void __dma_buf_get_ref(struct dma_buf *dmabuf)
{
	uapi_dmabuf_get(to_uapi_dmabuf(dmabuf));
}

int dma_buf_begin_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction direction)
{
	bool write = direction == DMA_BIDIRECTIONAL || direction == DMA_TO_DEVICE;
	long ret;
	int r = 0;

	if (WARN_ON(!dmabuf))
		return -EINVAL;
	/* As Linux: the exporter first, then the implicit fences. */
	if (dmabuf->ops->begin_cpu_access)
		r = dmabuf->ops->begin_cpu_access(dmabuf, direction);
	if (r)
		return r;
	ret = dma_resv_wait_timeout(dmabuf->resv, dma_resv_usage_rw(write), true,
				    MAX_SCHEDULE_TIMEOUT);
	return ret < 0 ? (int)ret : 0;
}

int dma_buf_end_cpu_access(struct dma_buf *dmabuf, enum dma_data_direction direction)
{
	if (WARN_ON(!dmabuf))
		return -EINVAL;
	return dmabuf->ops->end_cpu_access ? dmabuf->ops->end_cpu_access(dmabuf, direction) : 0;
}

/* Install @name (malloc()ed or NULL) as the name. */
static void set_name_owned(struct dma_buf *dmabuf, char *name)
{
	const char *old;

	spin_lock(&dmabuf->name_lock);
	old = dmabuf->name;
	dmabuf->name = name;
	spin_unlock(&dmabuf->name_lock);
	free((char *)old);
}

int dma_buf_set_name(struct dma_buf *dmabuf, const char *name)
{
	char *copy = NULL;

	if (WARN_ON(!dmabuf))
		return -EINVAL;
	if (name) {
		if (strnlen(name, DMA_BUF_NAME_LEN) >= DMA_BUF_NAME_LEN)
			return -EINVAL;
		copy = strdup(name);
		if (!copy)
			return -ENOMEM;
	}
	set_name_owned(dmabuf, copy);
	return 0;
}

void dmasync_dma_buf_resv_changed(struct dma_buf *dmabuf)
{
	if (WARN_ON(IS_ERR_OR_NULL(dmabuf)))
		return;
	uapi_dmabuf_poll_update(to_uapi_dmabuf(dmabuf), 0);
}

/* ---- ioctls ----------------------------------------------------------------------- */

/*
 * The kernel's strndup_user(@ustr, @max): the string up to its NUL, read a
 * byte at a time so that nothing past the NUL is touched (the string may
 * end just before an unmapped page, or an object boundary).
 * Return: a malloc()ed copy, or ERR_PTR(-EFAULT) if a byte before the NUL
 * is unreadable, ERR_PTR(-EINVAL) if there is no NUL in the first @max
 * bytes, ERR_PTR(-ENOMEM).
 */
static char *strndup_user(const char *ustr, size_t max)
{
	char buf[DMA_BUF_NAME_LEN];

	if (max > sizeof(buf))
		max = sizeof(buf);
	for (size_t i = 0; i < max; i++) {
		if (copy_from_user(&buf[i], user_ptr_add(ustr, i), 1))
			return ERR_PTR(-EFAULT);
		if (!buf[i]) {
			char *s = strdup(buf);

			return s ? s : ERR_PTR(-ENOMEM);
		}
	}
	return ERR_PTR(-EINVAL);
}

static long ioctl_sync(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_sync sync;
	enum dma_data_direction dir;

	if (copy_from_user(&sync, arg, sizeof(sync)))
		return -EFAULT;
	if (sync.flags & ~(__u64)DMA_BUF_SYNC_VALID_FLAGS_MASK)
		return -EINVAL;
	switch (sync.flags & DMA_BUF_SYNC_RW) {
	case DMA_BUF_SYNC_READ:
		dir = DMA_FROM_DEVICE;
		break;
	case DMA_BUF_SYNC_WRITE:
		dir = DMA_TO_DEVICE;
		break;
	case DMA_BUF_SYNC_RW:
		dir = DMA_BIDIRECTIONAL;
		break;
	default:
		return -EINVAL;
	}
	if (sync.flags & DMA_BUF_SYNC_END)
		return dma_buf_end_cpu_access(&obj->buf, dir);
	return dma_buf_begin_cpu_access(&obj->buf, dir);
}

static long ioctl_set_name(struct uapi_dmabuf *obj, void *arg)
{
	char *name = strndup_user(arg, DMA_BUF_NAME_LEN);

	if (IS_ERR(name))
		return PTR_ERR(name);
	set_name_owned(&obj->buf, name);
	return 0;
}

/* Linux's order: arguments, then the fd (EMFILE), then the fence. */
static long ioctl_export_sync_file(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_export_sync_file data;
	struct dma_fence *fence = NULL;
	struct sync_file *sf;
	int r;

	if (copy_from_user(&data, arg, sizeof(data)))
		return -EFAULT;
	if (data.flags & ~DMA_BUF_SYNC_RW)
		return -EINVAL;
	if (!(data.flags & DMA_BUF_SYNC_RW))
		return -EINVAL;
	sf = sync_file_alloc();
	if (!sf)
		return -errno;
	/* READ exports the writers (usage WRITE), WRITE/RW everybody (READ). */
	r = dma_resv_get_singleton(obj->buf.resv, dma_resv_usage_rw(data.flags & DMA_BUF_SYNC_WRITE),
				   &fence);
	if (r) {
		sync_file_discard(sf);
		return r;
	}
	if (!fence)
		fence = dma_fence_get_stub();
	sync_file_set_fence(sf, fence);
	dma_fence_put(fence);
	return sync_file_publish(sf, arg, &data, sizeof(data), &data.fd);
}

static long ioctl_import_sync_file(struct uapi_dmabuf *obj, void *arg)
{
	struct dma_buf_import_sync_file data;
	struct dma_resv *resv = obj->buf.resv;
	struct dma_fence_unwrap iter;
	struct dma_fence *fence, *f;
	enum dma_resv_usage usage;
	unsigned int count = 0;
	int r = 0;

	if (copy_from_user(&data, arg, sizeof(data)))
		return -EFAULT;
	if (data.flags & ~DMA_BUF_SYNC_RW)
		return -EINVAL;
	if (!(data.flags & DMA_BUF_SYNC_RW))
		return -EINVAL;
	fence = sync_file_get_fence(data.fd);
	if (!fence)
		return -EINVAL;
	usage = (data.flags & DMA_BUF_SYNC_WRITE) ? DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ;
	/* Never a container in the reservation object: its leaves, with one
	 * reservation for all of them. */
	dma_fence_unwrap_for_each(f, &iter, fence)
		count++;
	if (count) {
		dma_resv_lock(resv, NULL);
		r = dma_resv_reserve_fences(resv, count);
		if (!r) {
			dma_fence_unwrap_for_each(f, &iter, fence)
				dma_resv_add_fence(resv, f, usage);
		}
		dma_resv_unlock(resv);
	}
	dma_fence_put(fence);
	if (!r)
		uapi_dmabuf_poll_update(obj, 0);
	return r;
}

static long dma_buf_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);

	uapi_tracked_maybe_reap();
	/* The kernel takes the request as an unsigned int. */
	switch ((unsigned int)request) {
	case DMA_BUF_IOCTL_SYNC:
		return ioctl_sync(obj, arg);
	case DMA_BUF_SET_NAME_A:
	case DMA_BUF_SET_NAME_B:
		return ioctl_set_name(obj, arg);
	case DMA_BUF_IOCTL_EXPORT_SYNC_FILE:
		return ioctl_export_sync_file(obj, arg);
	case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
		return ioctl_import_sync_file(obj, arg);
	default:
		return -ENOTTY;
	}
}

static short dma_buf_file_poll(struct uapi_file *file, short events)
{
	struct uapi_dmabuf *obj = container_of(file, struct uapi_dmabuf, t.file);
	unsigned int want = 0, ready;
	short revents = 0;

	if (events & POLLIN)
		want |= DMABUF_IN;
	if (events & POLLOUT)
		want |= DMABUF_OUT;
	if (!want)
		return 0;
	ready = uapi_dmabuf_poll_update(obj, want) & want;
	if (ready & DMABUF_IN)
		revents |= POLLIN;
	if (ready & DMABUF_OUT)
		revents |= POLLOUT;
	return revents;
}

const struct uapi_file_ops uapi_dmabuf_ops = {
	.name = "dmabuf",
	.ioctl = dma_buf_ioctl,
	.poll = dma_buf_file_poll,
	.match = uapi_tracked_match,
	.release = dma_buf_file_release,
};

/* ---- mmap and lseek ---------------------------------------------------------------- */

/* Map the pieces covering [@off, @off + @len) of a udmabuf at @dst. */
static int map_pieces(struct uapi_dmabuf *obj, char *dst, size_t off, size_t len)
{
	size_t pos = 0;

	for (unsigned int i = 0; i < obj->npieces && len; i++) {
		struct uapi_dmabuf_piece *p = &obj->pieces[i];
		size_t n;

		if (off >= pos + p->len) {
			pos += p->len;
			continue;
		}
		n = pos + p->len - off;
		if (n > len)
			n = len;
		/* A second mapping of the same shared pages. */
		if (mremap(p->addr + (off - pos), 0, n, MREMAP_MAYMOVE | MREMAP_FIXED, dst) ==
		    MAP_FAILED)
			return -errno;
		dst += n;
		off += n;
		len -= n;
		pos += p->len;
	}
	return 0;
}

static void *mmap_pieces(struct uapi_dmabuf *obj, void *addr, size_t len, int prot, int flags,
			 size_t off)
{
	bool fixed = flags & MAP_FIXED;
	char *dst = addr;
	int r;

	if (fixed) {
		if ((unsigned long)addr & (PAGE - 1)) {
			errno = EINVAL;
			return MAP_FAILED;
		}
	} else {
		/* Reserve the range (honouring the hint and MAP_FIXED_NOREPLACE). */
		dst = mmap(addr, len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & MAP_FIXED_NOREPLACE),
			   -1, 0);
		if (dst == MAP_FAILED)
			return MAP_FAILED;
	}
	r = map_pieces(obj, dst, off, len);
	if (!r && mprotect(dst, len, prot))
		r = -errno;
	if (r) {
		munmap(dst, len);
		errno = -r;
		return MAP_FAILED;
	}
	return dst;
}

void *dmasync_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	struct uapi_dmabuf *obj;
	size_t pages = 0, pgoff = 0;
	int type = flags & MAP_TYPE, err = 0;
	void *p;

	if (flags & MAP_ANONYMOUS)
		return mmap(addr, length, prot, flags, fd, offset);
	obj = uapi_dmabuf_lookup(fd);
	if (!obj)
		return mmap(addr, length, prot, flags, fd, offset);

	/* The checks of mmap(2), then the dma-buf's, in Linux's order. */
	if ((offset & (off_t)(PAGE - 1)) || !length)
		err = EINVAL;
	else if (length > SIZE_MAX - PAGE)
		err = ENOMEM;
	else if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
		err = EINVAL;
	else if (obj->accmode == O_WRONLY || obj->accmode == O_ACCMODE ||
		 (type != MAP_PRIVATE && (prot & PROT_WRITE) && obj->accmode == O_RDONLY))
		err = EACCES;
	if (!err) {
		pages = (length + PAGE - 1) / PAGE;
		pgoff = (size_t)offset / PAGE;
		if (offset < 0 || pgoff + pages > obj->buf.size / PAGE)
			err = EINVAL;
		else if (obj->shared_only && type == MAP_PRIVATE)
			err = EINVAL;
	}
	if (err) {
		uapi_dmabuf_put(obj);
		errno = err;
		return MAP_FAILED;
	}
	if (obj->t.kind == TRACKED_MEMFD)
		p = mmap(addr, length, prot, flags, fd, offset);
	else
		p = mmap_pieces(obj, addr, pages * PAGE, prot, flags, pgoff * PAGE);
	err = errno;
	uapi_dmabuf_put(obj);
	errno = err;
	return p;
}

off_t dmasync_lseek(int fd, off_t offset, int whence)
{
	struct uapi_dmabuf *obj = uapi_dmabuf_lookup(fd);
	off_t base;

	if (!obj)
		return lseek(fd, offset, whence);
	/* Only the size can be discovered: SEEK_END or SEEK_SET, offset 0. */
	if (whence == SEEK_END)
		base = (off_t)obj->buf.size;
	else if (whence == SEEK_SET)
		base = 0;
	else
		base = -1;
	uapi_dmabuf_put(obj);
	if (base < 0 || offset) {
		errno = EINVAL;
		return -1;
	}
	return base;
}

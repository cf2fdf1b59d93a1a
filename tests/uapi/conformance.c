// SPDX-License-Identifier: MIT
/*
 * conformance.c - Linux UAPI conformance suite for dma-buf, sync_file,
 * sw_sync, udmabuf and dma-heap.
 *
 * Written once against the real Linux UAPI headers; every call on a device,
 * dma-buf, sync_file or timeline goes through the U_* indirection of
 * uapi-calls.h, so the same binary logic runs
 *   - on a real kernel (default build; see README.md for the kernel VM), and
 *   - on dmasync's in-process emulation (-DUAPI_ON_DMASYNC).
 *
 * The expectations are the behaviour of Linux 6.1 as observed in the kernel
 * VM (tests/uapi/linux-6.1-results.txt).  Output is TAP-like:
 *   ok N - name | not ok N - name | ok N - name # SKIP reason
 * followed by a final "P passed, F failed" line; the exit status is 1 when
 * any test failed.
 *
 * Usage: conformance [-l] [-v] [SUBSTRING...]
 *   -l  list the test names and exit
 *   -v  verbose diagnostics
 *   SUBSTRING  run only the tests whose name contains one of them
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <linux/dma-buf.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include "uapi-calls.h"

/*
 * KNOWN(dmasync, kernel): the value dmasync gives where it knowingly differs
 * from Linux 6.1; each use names its row in docs/kernel-compat.md.  On the
 * kernel the second value is checked, so the suite stays a kernel oracle.
 * The plain build checks dmasync's values when UAPI_BACKEND=dmasync is in
 * the environment (the suite run unmodified under `dmasync run`).
 * WRAPPER_KNOWN(): a difference of the dmasync_* wrappers alone, which the
 * preload's wrappers of libc's names do not have (fd flags, poll bits).
 */
#ifdef UAPI_ON_DMASYNC
#define KNOWN(dmasync, kernel) (dmasync)
#define WRAPPER_KNOWN(dmasync, kernel) (dmasync)
#else
static bool on_dmasync;	/* UAPI_BACKEND=dmasync */
#define KNOWN(dmasync, kernel) (on_dmasync ? (dmasync) : (kernel))
#define WRAPPER_KNOWN(dmasync, kernel) (kernel)
#endif
/* Sync files are sockets: O_RDWR ("fd flags" row). */
#define SYNC_FILE_ACCMODE WRAPPER_KNOWN(O_RDWR, O_RDONLY)

/* ------------------------------------------------------------------ */
/* UAPI definitions missing from the installed headers                 */

/* sw_sync's ioctls live in drivers/dma-buf/sw_sync.c, not in uapi. */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, __u32)

/* Linux 6.4+; Debian 12 ships 6.1 headers. */
#ifndef SYNC_IOC_SET_DEADLINE
struct sync_set_deadline {
	__u64 deadline_ns;
	__u64 pad;
};
#define SYNC_IOC_SET_DEADLINE _IOW(SYNC_IOC_MAGIC, 5, struct sync_set_deadline)
#endif
/* Linux 6.4+, a sw_sync test hook: the deadline set on a sw_sync point */
struct sw_sync_get_deadline {
	__u64 deadline_ns;
	__u32 pad;
	__s32 fence_fd;
};
#define SW_SYNC_GET_DEADLINE _IOWR('W', 2, struct sw_sync_get_deadline)

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define SW_SYNC_PATH "/sys/kernel/debug/sync/sw_sync"
#define UDMABUF_PATH "/dev/udmabuf"
#define HEAP_PATH "/dev/dma_heap/system"
#define ANON_INODE_FS_MAGIC 0x09041934
#define DMA_BUF_MAGIC 0x444d4142
#define DEBUGFS_MAGIC 0x64626720
#define TMPFS_MAGIC 0x01021994

#define PAGE 4096u
#define BLOCK_MS 5000      /* upper bound for every blocking wait */
#define DELAY_MS 100       /* delay of the asynchronous signaler */
#define MIN_WAIT_MS 80     /* a wait for a DELAY_MS signal lasts at least this */

/* ------------------------------------------------------------------ */
/* Harness                                                             */

enum need {
	NEED_SWSYNC = 1u << 0,
	NEED_UDMABUF = 1u << 1,
	NEED_HEAP = 1u << 2,
	NEED_DMABUF = 1u << 3, /* udmabuf or the system heap */
};

enum tflags {
	F_XPROC = 1u << 0,  /* kernel objects shared with another process */
	F_KERNEL = 1u << 1, /* observes the kernel through /proc or libc read() */
};

struct test {
	const char *name;
	const char *id;
	void (*fn)(void);
	unsigned need;
	unsigned flags;
};

static bool have_swsync, have_udmabuf, have_heap;
static bool verbose;
static char comm[16];

static jmp_buf t_jmp;
static bool t_failed;
static char t_skip[200];

#define MAX_TRACKED 256
static int t_fds[MAX_TRACKED];
static int t_nfds;
static struct {
	void *addr;
	size_t len;
} t_maps[64];
static int t_nmaps;

static pid_t t_main_pid;
#define FD_SCAN 1024
static unsigned char fd_before[FD_SCAN], fd_after[FD_SCAN];
/* The census looks below this: FD_SCAN, but in the linked build not at the
 * library's own fds, which it keeps in the top 64 of a soft RLIMIT_NOFILE
 * below 1088 (docs/kernel-compat.md; the preload hides them). */
static int fd_scan = FD_SCAN;
#define FD_NAMED 32 /* fds whose identity is kept for diagnostics */
static char fd_names[FD_NAMED][128];

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("#   ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static bool check_(bool ok, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool check_(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	t_failed = true;
	printf("#   line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	return false;
}

static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "E?";
}

#define CHECK(c) check_(!!(c), __LINE__, "CHECK(%s)", #c)
#define CHECKF(c, ...) check_(!!(c), __LINE__, __VA_ARGS__)
/* In a test's forked child, a failed REQUIRE ends the child (status 99):
 * the jump would run the parent's harness in it. */
#define REQUIRE(c)                                                         \
	do {                                                               \
		if (!check_(!!(c), __LINE__, "REQUIRE(%s)", #c)) {        \
			if (getpid() != t_main_pid)                        \
				_exit(99);                                 \
			longjmp(t_jmp, 1);                                 \
		}                                                          \
	} while (0)
#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		check_(a_ == b_, __LINE__, "%s == %s: got %lld (0x%llx), want %lld", \
		       #a, #b, a_, (unsigned long long)a_, b_);            \
	} while (0)
#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		check_(strcmp(a_, b_) == 0, __LINE__,                      \
		       "%s == %s: got \"%s\", want \"%s\"", #a, #b, a_, b_); \
	} while (0)
/* expr must fail with -1 (or MAP_FAILED) and errno == err */
#define CHECK_ERR(expr, err)                                               \
	do {                                                               \
		errno = 0;                                                 \
		long r_ = (long)(expr);                                    \
		int e_ = errno, w_ = (err);                                \
		check_(r_ == -1 && e_ == w_, __LINE__,                     \
		       "%s: got %ld/%s, want -1/%s", #expr, r_,            \
		       r_ == -1 ? errname(e_) : "no error", errname(w_));  \
	} while (0)
/* expr must not return -1 */
#define CHECK_OK(expr)                                                     \
	do {                                                               \
		errno = 0;                                                 \
		long r_ = (long)(expr);                                    \
		int e_ = errno;                                            \
		check_(r_ != -1, __LINE__, "%s failed: %s", #expr,         \
		       errname(e_));                                       \
	} while (0)
#define SKIP(...)                                                          \
	do {                                                               \
		snprintf(t_skip, sizeof(t_skip), __VA_ARGS__);             \
		longjmp(t_jmp, 2);                                         \
	} while (0)

static int track(int fd)
{
	if (fd < 0)
		return fd;
	REQUIRE(t_nfds < MAX_TRACKED);
	t_fds[t_nfds++] = fd;
	return fd;
}

static void untrack(int fd)
{
	for (int i = t_nfds - 1; i >= 0; i--) {
		if (t_fds[i] == fd) {
			t_fds[i] = t_fds[--t_nfds];
			return;
		}
	}
}

/* Close a tracked fd now (e.g. to observe what closing does). */
static void xclose(int fd)
{
	untrack(fd);
	CHECK_EQ(U_close(fd), 0);
}

static void *track_map(void *p, size_t len)
{
	if (p == MAP_FAILED)
		return p;
	REQUIRE(t_nmaps < (int)(sizeof(t_maps) / sizeof(t_maps[0])));
	t_maps[t_nmaps].addr = p;
	t_maps[t_nmaps].len = len;
	t_nmaps++;
	return p;
}

static void xunmap(void *p)
{
	for (int i = 0; i < t_nmaps; i++) {
		if (t_maps[i].addr == p) {
			CHECK_EQ(U_munmap(p, t_maps[i].len), 0);
			t_maps[i] = t_maps[--t_nmaps];
			return;
		}
	}
	CHECK(!"xunmap of an untracked mapping");
}

/* Mappings go first: on 6.1, dropping the last reference to a memfd while a
 * udmabuf mapping of its pages exists trips "BUG: Bad page cache". */
static void cleanup_tracked(void)
{
	while (t_nmaps > 0) {
		t_nmaps--;
		U_munmap(t_maps[t_nmaps].addr, t_maps[t_nmaps].len);
	}
	while (t_nfds > 0)
		U_close(t_fds[--t_nfds]);
}

static void fd_snapshot(unsigned char *set)
{
	for (int i = 0; i < FD_SCAN; i++)
		set[i] = i < fd_scan && U_fcntl(i, F_GETFD) != -1;
}

/* What fd @fd is, for a diagnostic ("socket:[1234]", "/memfd:x", ...). */
static void fd_name(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		n = snprintf(buf, len, "?");
	buf[n] = 0;
}

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ms_since(int64_t t0)
{
	return (now_ns() - t0) / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static bool is_cloexec(int fd)
{
	int f = U_fcntl(fd, F_GETFD);

	return f != -1 && (f & FD_CLOEXEC);
}

static int accmode(int fd)
{
	int f = U_fcntl(fd, F_GETFL);

	return f == -1 ? -1 : (f & O_ACCMODE);
}

/* A page whose contents the kernel can read but not write. */
static void *ro_page(const void *init, size_t len)
{
	void *p = track_map(mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), PAGE);

	REQUIRE(p != MAP_FAILED);
	memcpy(p, init, len);
	REQUIRE(mprotect(p, PAGE, PROT_READ) == 0);
	return p;
}

/* One read/write page followed by an inaccessible page; returns the end
 * of the accessible page. */
static char *page_before_hole(void)
{
	char *p = track_map(mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 2 * PAGE);

	REQUIRE(p != MAP_FAILED);
	REQUIRE(mprotect(p + PAGE, PAGE, PROT_NONE) == 0);
	return p + PAGE;
}

static int new_pipe(int *wr)
{
	int p[2];

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	track(p[0]);
	track(p[1]);
	if (wr)
		*wr = p[1];
	return p[0];
}

/* An fd number that is certainly not open. */
static int closed_fd(void)
{
	int fd = U_dup(0);

	REQUIRE(fd >= 0);
	U_close(fd);
	return fd;
}

/* memfd of @size bytes with @seals added (0: none). */
static int new_memfd_flags(size_t size, unsigned seals, unsigned mfd_flags)
{
	int fd = memfd_create("uapi-conformance", MFD_CLOEXEC | mfd_flags);

	REQUIRE(fd >= 0);
	track(fd);
	REQUIRE(ftruncate(fd, (off_t)size) == 0);
	if (seals)
		REQUIRE(U_fcntl(fd, F_ADD_SEALS, seals) == 0);
	return fd;
}

static int new_memfd(size_t size, unsigned seals)
{
	return new_memfd_flags(size, seals, MFD_ALLOW_SEALING);
}

/* ------------------------------------------------------------------ */
/* sw_sync / sync_file helpers                                         */

static int open_timeline(void)
{
	int fd = U_open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);

	CHECKF(fd >= 0, "open(%s): %s", SW_SYNC_PATH, errname(errno));
	REQUIRE(fd >= 0);
	return track(fd);
}

static int create_fence(int tl, __u32 value)
{
	struct sw_sync_create_fence_data d;

	memset(&d, 0, sizeof(d));
	d.value = value;
	snprintf(d.name, sizeof(d.name), "pt-%u", value);
	d.fence = -1;
	REQUIRE(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d) == 0);
	REQUIRE(d.fence >= 0);
	return track(d.fence);
}

static void inc(int tl, __u32 n)
{
	REQUIRE(U_ioctl(tl, SW_SYNC_IOC_INC, &n) == 0);
}

static int try_merge(int a, int b, const char *name, __u32 flags, __u32 pad)
{
	struct sync_merge_data m;

	memset(&m, 0, sizeof(m));
	if (name)
		memcpy(m.name, name, strnlen(name, sizeof(m.name)));
	m.fd2 = b;
	m.fence = -1;
	m.flags = flags;
	m.pad = pad;
	if (U_ioctl(a, SYNC_IOC_MERGE, &m) != 0)
		return -1;
	return track(m.fence);
}

static int merge(int a, int b, const char *name)
{
	int fd = try_merge(a, b, name, 0, 0);

	CHECKF(fd >= 0, "SYNC_IOC_MERGE: %s", errname(errno));
	REQUIRE(fd >= 0);
	return fd;
}

#define MAX_INFO 16
/* FILE_INFO with the two-call protocol; returns the number of fences. */
static unsigned file_info(int fd, struct sync_file_info *info,
			  struct sync_fence_info *fi)
{
	struct sync_file_info first;

	memset(&first, 0, sizeof(first));
	REQUIRE(U_ioctl(fd, SYNC_IOC_FILE_INFO, &first) == 0);
	REQUIRE(first.num_fences >= 1 && first.num_fences <= MAX_INFO);
	memset(info, 0, sizeof(*info));
	memset(fi, 0xa5, sizeof(*fi) * first.num_fences);
	info->num_fences = first.num_fences;
	info->sync_fence_info = (uintptr_t)fi;
	REQUIRE(U_ioctl(fd, SYNC_IOC_FILE_INFO, info) == 0);
	CHECK_EQ(info->num_fences, first.num_fences);
	CHECK_STR(info->name, first.name);
	return info->num_fences;
}

/* Count-only FILE_INFO: status of the whole sync_file. */
static int sf_status(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	REQUIRE(U_ioctl(fd, SYNC_IOC_FILE_INFO, &info) == 0);
	return info.status;
}

static unsigned sf_count(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	REQUIRE(U_ioctl(fd, SYNC_IOC_FILE_INFO, &info) == 0);
	return info.num_fences;
}

static void sf_name(int fd, char name[32])
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	REQUIRE(U_ioctl(fd, SYNC_IOC_FILE_INFO, &info) == 0);
	memcpy(name, info.name, 32);
	name[31] = 0;
}

/* The single fence of a sync_file. */
static struct sync_fence_info sf_fence(int fd)
{
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	REQUIRE(file_info(fd, &info, fi) == 1);
	return fi[0];
}

/* "<prefix><ctx>-<seqno>": returns true and the two numbers if it matches. */
static bool parse_fence_name(const char *name, const char *prefix,
			     unsigned long long *ctx, long long *seqno)
{
	size_t n = strlen(prefix);
	char *end;

	if (strncmp(name, prefix, n) != 0)
		return false;
	name += n;
	if (*name < '0' || *name > '9')
		return false;
	*ctx = strtoull(name, &end, 10);
	if (*end != '-')
		return false;
	name = end + 1;
	if (!*name)
		return false;
	*seqno = strtoll(name, &end, 10);
	return *end == 0;
}

static void swsync_prefix(char *buf, size_t len)
{
	snprintf(buf, len, "sw_sync-%s", comm);
}

/* poll() one fd; returns revents (0 on timeout). */
static int revents(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = U_poll(&p, 1, timeout_ms);

	CHECKF(r >= 0, "poll(fd %d, 0x%x): %s", fd, events, errname(errno));
	REQUIRE(r >= 0);
	if (r == 0)
		CHECK_EQ(p.revents, 0);
	else
		CHECK_EQ(r, 1);
	return p.revents;
}

/* ------------------------------------------------------------------ */
/* Asynchronous signaler thread                                        */

struct delayed {
	pthread_t th;
	int tl;
	unsigned ms;
	__u32 inc;
	int err;
	bool started;
};

/* Owned by the harness so that an aborted test cannot leave a thread
 * writing into a dead stack frame; run_one() joins leftovers. */
static struct delayed t_delayed[4];

static void *delayed_fn(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->ms);
	d->err = U_ioctl(d->tl, SW_SYNC_IOC_INC, &d->inc) ? errno : 0;
	return NULL;
}

/* Signals @tl by one after @ms from a thread with all signals blocked. */
static struct delayed *delayed_inc_start(int tl, unsigned ms)
{
	struct delayed *d = NULL;
	sigset_t all, old;

	for (unsigned i = 0; i < sizeof(t_delayed) / sizeof(t_delayed[0]); i++) {
		if (!t_delayed[i].started) {
			d = &t_delayed[i];
			break;
		}
	}
	REQUIRE(d);
	d->tl = tl;
	d->ms = ms;
	d->inc = 1;
	d->err = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	d->started = pthread_create(&d->th, NULL, delayed_fn, d) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	REQUIRE(d->started);
	return d;
}

static void delayed_inc_join(struct delayed *d)
{
	if (!d->started)
		return;
	pthread_join(d->th, NULL);
	d->started = false;
	CHECKF(d->err == 0, "delayed SW_SYNC_IOC_INC: %s", errname(d->err));
}

static void join_leftover_threads(void)
{
	for (unsigned i = 0; i < sizeof(t_delayed) / sizeof(t_delayed[0]); i++) {
		if (t_delayed[i].started) {
			pthread_join(t_delayed[i].th, NULL);
			t_delayed[i].started = false;
		}
	}
}

/* Forked child that signals @tl by one after @ms. */
static pid_t fork_inc(int tl, unsigned ms)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		__u32 one = 1;

		sleep_ms(ms);
		_exit(U_ioctl(tl, SW_SYNC_IOC_INC, &one) ? 1 : 0);
	}
	return pid;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------------ */
/* dma-buf helpers                                                     */

enum kind { KIND_UDMABUF, KIND_HEAP, NKINDS };
static const char *const kind_name[NKINDS] = { "udmabuf", "system-heap" };

static bool kind_ok(int k)
{
	return k == KIND_UDMABUF ? have_udmabuf : have_heap;
}

static int default_kind(void)
{
	return have_udmabuf ? KIND_UDMABUF : KIND_HEAP;
}

static int open_udmabuf_dev(void)
{
	int fd = U_open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);

	REQUIRE(fd >= 0);
	return track(fd);
}

static int open_heap(void)
{
	int fd = U_open(HEAP_PATH, O_RDONLY | O_CLOEXEC);

	REQUIRE(fd >= 0);
	return track(fd);
}

static int try_udmabuf(int dev, int memfd, __u64 off, __u64 size, __u32 flags)
{
	struct udmabuf_create c = { .memfd = (__u32)memfd, .flags = flags,
				    .offset = off, .size = size };

	return track(U_ioctl(dev, UDMABUF_CREATE, &c));
}

static int try_heap(int heap, __u64 len, __u32 fd_flags, __u64 heap_flags)
{
	struct dma_heap_allocation_data a = { .len = len, .fd_flags = fd_flags,
					      .heap_flags = heap_flags };

	if (U_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) != 0)
		return -1;
	return track((int)a.fd);
}

/* A dma-buf of @size bytes of the given kind (O_RDWR|O_CLOEXEC). */
static int new_dmabuf_kind(int k, size_t size)
{
	int fd;

	if (k == KIND_UDMABUF) {
		int dev = open_udmabuf_dev();
		int mfd = new_memfd(size, F_SEAL_SHRINK);

		fd = try_udmabuf(dev, mfd, 0, size, UDMABUF_FLAGS_CLOEXEC);
		CHECKF(fd >= 0, "UDMABUF_CREATE: %s", errname(errno));
	} else {
		int heap = open_heap();

		fd = try_heap(heap, size, O_RDWR | O_CLOEXEC, 0);
		CHECKF(fd >= 0, "DMA_HEAP_IOCTL_ALLOC: %s", errname(errno));
	}
	REQUIRE(fd >= 0);
	return fd;
}

static int new_dmabuf(size_t size)
{
	return new_dmabuf_kind(default_kind(), size);
}

static int try_import(int buf, int fence, __u32 flags)
{
	struct dma_buf_import_sync_file imp = { .flags = flags, .fd = fence };

	return U_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp);
}

static void import_fence(int buf, int fence, __u32 flags)
{
	int r = try_import(buf, fence, flags);

	CHECKF(r == 0, "IMPORT_SYNC_FILE(flags %u): %s", flags, errname(errno));
	REQUIRE(r == 0);
}

static int try_export(int buf, __u32 flags)
{
	struct dma_buf_export_sync_file exp = { .flags = flags, .fd = -1 };

	if (U_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) != 0)
		return -1;
	return track(exp.fd);
}

static int export_fence(int buf, __u32 flags)
{
	int fd = try_export(buf, flags);

	CHECKF(fd >= 0, "EXPORT_SYNC_FILE(flags %u): %s", flags, errname(errno));
	REQUIRE(fd >= 0);
	return fd;
}

static int dma_sync(int buf, __u64 flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return U_ioctl(buf, DMA_BUF_IOCTL_SYNC, &s);
}

static int set_name(int buf, unsigned long req, const char *name)
{
	return U_ioctl(buf, req, name);
}

static void *map_shared(int fd, size_t len, off_t off)
{
	void *p = U_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	CHECKF(p != MAP_FAILED, "mmap(fd %d, len %zu, off %lld): %s", fd, len,
	       (long long)off, errname(errno));
	REQUIRE(p != MAP_FAILED);
	return track_map(p, len);
}

/* Value of "key:\t..." in /proc/self/fdinfo/<fd> ("" when absent). */
static bool fdinfo_field(int fd, const char *key, char *out, size_t outlen)
{
	char path[64], buf[4096], pat[64];
	ssize_t n;
	int pfd;
	char *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	pfd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(pfd >= 0);
	n = read(pfd, buf, sizeof(buf) - 1);
	close(pfd);
	REQUIRE(n > 0);
	buf[n] = 0;
	if (verbose)
		diag("fdinfo %d: %s", fd, buf);
	snprintf(pat, sizeof(pat), "%s:\t", key);
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, pat, strlen(pat)) == 0) {
			size_t l = strcspn(p + strlen(pat), "\n");

			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, p + strlen(pat), l);
			out[l] = 0;
			return true;
		}
	}
	out[0] = 0;
	return false;
}

static void fd_link(int fd, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, out, len - 1);
	REQUIRE(n >= 0);
	out[n] = 0;
}

/* ------------------------------------------------------------------ */
/* Signal helpers                                                      */

static volatile sig_atomic_t alarm_hits;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_hits++;
}

static void arm_alarm(unsigned ms, bool restart, struct sigaction *old)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 0 }, { ms / 1000, (long)(ms % 1000) * 1000 } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	alarm_hits = 0;
	REQUIRE(sigaction(SIGALRM, &sa, old) == 0);
	REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

static void disarm_alarm(const struct sigaction *old)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, old, NULL);
}


/* ================================================================== */
/* sw_sync                                                            */

static void t_swsync_timeline_name_is_comm(void)
{
	char old[16];
	struct sync_fence_info f;
	struct sw_sync_create_fence_data d;
	int tl = open_timeline();
	int tl2, r;

	f = sf_fence(create_fence(tl, 1));
	CHECK_STR(f.obj_name, comm);
	CHECK_STR(f.driver_name, "sw_sync");

	/* The name is the comm at open() time (no REQUIRE while renamed). */
	REQUIRE(prctl(PR_GET_NAME, old) == 0);
	REQUIRE(prctl(PR_SET_NAME, "uapi-renamed") == 0);
	tl2 = track(U_open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC));
	memset(&d, 0, sizeof(d));
	d.value = 2;
	r = U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d);
	prctl(PR_SET_NAME, old);
	REQUIRE(tl2 >= 0 && r == 0);
	track(d.fence);
	f = sf_fence(create_fence(tl2, 1));
	CHECK_STR(f.obj_name, "uapi-renamed");
	/* a rename does not affect a timeline opened before it */
	f = sf_fence(d.fence);
	CHECK_STR(f.obj_name, comm);
}

static void t_swsync_sync_file_name(void)
{
	char prefix[64], name[32];
	unsigned long long ctx1, ctx2, ctx3;
	long long seq;
	struct sw_sync_create_fence_data d;
	int tl = open_timeline(), tl2 = open_timeline();

	swsync_prefix(prefix, sizeof(prefix));
	sf_name(create_fence(tl, 5), name);
	CHECKF(parse_fence_name(name, prefix, &ctx1, &seq) && seq == 5,
	       "name \"%s\" is not %s<ctx>-5", name, prefix);

	/* the name field of the request is ignored */
	memset(&d, 0, sizeof(d));
	d.value = 7;
	strcpy(d.name, "ignored-name");
	REQUIRE(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d) == 0);
	sf_name(track(d.fence), name);
	CHECKF(parse_fence_name(name, prefix, &ctx2, &seq) && seq == 7,
	       "name \"%s\" is not %s<ctx>-7", name, prefix);
	CHECK_EQ(ctx2, ctx1);
	CHECK(strstr(name, "ignored") == NULL);

	/* another timeline has another context */
	sf_name(create_fence(tl2, 5), name);
	CHECKF(parse_fence_name(name, prefix, &ctx3, &seq) && seq == 5,
	       "name \"%s\"", name);
	CHECK(ctx3 != ctx1);
}

static void t_swsync_fence_fd_flags(void)
{
	int tl = open_timeline();
	int f1 = create_fence(tl, 1), f0 = create_fence(tl, 0);

	CHECK(is_cloexec(f1));
	CHECK(is_cloexec(f0));
	CHECK_EQ(accmode(f1), SYNC_FILE_ACCMODE);
}

static void t_swsync_past_value_born_signaled(void)
{
	int tl = open_timeline();
	int64_t t0 = now_ns();
	int f0 = create_fence(tl, 0);
	int64_t t1 = now_ns();
	struct sync_fence_info f = sf_fence(f0);

	CHECK_EQ(f.status, 1);
	CHECKF(f.timestamp_ns >= (__u64)t0 && f.timestamp_ns <= (__u64)t1,
	       "timestamp %llu outside [%lld, %lld]",
	       (unsigned long long)f.timestamp_ns, (long long)t0, (long long)t1);
	CHECK_EQ(revents(f0, POLLIN, 0), POLLIN);

	inc(tl, 5);
	CHECK_EQ(sf_status(create_fence(tl, 3)), 1);
	CHECK_EQ(sf_status(create_fence(tl, 5)), 1);
	CHECK_EQ(sf_status(create_fence(tl, 6)), 0);
}

/* seqnos are compared as (int)(a - b) > 0 on the 32-bit timeline value */
static void t_swsync_wraparound(void)
{
	int tl = open_timeline();
	int fmax = create_fence(tl, 0x7fffffff);

	CHECK_EQ(sf_status(fmax), 0);
	CHECK_EQ(sf_status(create_fence(tl, 0x80000000u)), 1);
	CHECK_EQ(sf_status(create_fence(tl, 0x80000001u)), 1);
	CHECK_EQ(sf_status(create_fence(tl, 0xffffffffu)), 1);
	/* an increment above INT_MAX is applied in INT_MAX chunks */
	inc(tl, 0xffffffffu);
	CHECK_EQ(sf_status(fmax), 1);
	CHECK_EQ(sf_status(create_fence(tl, 0xfffffffeu)), 1);
	CHECK_EQ(sf_status(create_fence(tl, 0x7ffffffeu)), 0);
}

/*
 * Linux applies an INC in steps of at most INT_MAX, each signaling every
 * point within reach, and a signaled point stays signaled: a point
 * pending at distance d signals once d was added, however large the INCs,
 * and one signaled at creation stays so however far the value wraps past
 * it.  (dmasync's timeline page decided both from a 32-bit compare of
 * seqno and value, which cannot tell once INCs total 2^31 or more.)
 */
static void t_swsync_huge_increments(void)
{
	int tl = open_timeline(), f5 = create_fence(tl, 5), f;
	struct sync_fence_info born, later;

	/* one INC past a pending point by far more than INT_MAX */
	inc(tl, 0xffffffffu);
	CHECK_EQ(sf_status(f5), 1);
	CHECK_EQ(revents(f5, POLLIN, 0), POLLIN);
	/* the value wrapped to exactly 0xffffffff */
	CHECK_EQ(sf_status(create_fence(tl, 0xffffffffu)), 1);
	f = create_fence(tl, 0);
	CHECK_EQ(sf_status(f), 0);
	CHECK_EQ(revents(f, POLLIN, 0), 0);
	inc(tl, 1);
	CHECK_EQ(sf_status(f), 1);

	tl = open_timeline();
	f = create_fence(tl, 1);
	inc(tl, 0x90000000u);
	CHECK_EQ(sf_status(f), 1);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
	f = create_fence(tl, 0x90000001u);
	CHECK_EQ(sf_status(f), 0);
	inc(tl, 0xffffffffu);
	CHECK_EQ(sf_status(f), 1);

	/* signaled at creation (half the number space ahead, or behind),
	 * then passed by the wrapping value: still signaled, same time */
	tl = open_timeline();
	f = create_fence(tl, 0x80000000u);
	CHECK_EQ(sf_status(f), 1);
	born = sf_fence(f);
	inc(tl, 1);
	CHECK_EQ(sf_status(f), 1);
	later = sf_fence(f);
	CHECK_EQ(later.status, 1);
	CHECK_EQ(later.timestamp_ns, born.timestamp_ns);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);

	tl = open_timeline();
	f = create_fence(tl, 0xfffffff0u);
	CHECK_EQ(sf_status(f), 1);
	inc(tl, 0x7fffffffu);
	CHECK_EQ(sf_status(f), 1);
	inc(tl, 0x7fffffffu);
	CHECK_EQ(sf_status(f), 1);

	/* signaled by an INC, then the value wraps all the way round */
	tl = open_timeline();
	inc(tl, 1);
	f = create_fence(tl, 2);
	inc(tl, 1);
	CHECK_EQ(sf_status(f), 1);
	inc(tl, 0x80000000u);
	inc(tl, 0x7fffffffu);
	CHECK_EQ(sf_status(f), 1);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
}

static void t_swsync_inc_signals_in_order(void)
{
	int tl = open_timeline();
	int f1 = create_fence(tl, 1), f3 = create_fence(tl, 3),
	    f2 = create_fence(tl, 2);
	int64_t t0, t1;
	struct sync_fence_info i1, i2;

	t0 = now_ns();
	inc(tl, 2);
	t1 = now_ns();
	CHECK_EQ(revents(f1, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(f2, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(f3, POLLIN, 0), 0);
	i1 = sf_fence(f1);
	i2 = sf_fence(f2);
	CHECK(i1.timestamp_ns >= (__u64)t0 && i1.timestamp_ns <= (__u64)t1);
	CHECK(i2.timestamp_ns >= i1.timestamp_ns && i2.timestamp_ns <= (__u64)t1);
	inc(tl, 0);
	CHECK_EQ(revents(f3, POLLIN, 0), 0);
	inc(tl, 1);
	CHECK_EQ(revents(f3, POLLIN, 0), POLLIN);
}

/* Two CREATE_FENCE calls for the same pending value share one dma_fence. */
static void t_swsync_same_value_shares_fence(void)
{
	int tl = open_timeline();
	int a = create_fence(tl, 4), b = create_fence(tl, 4);
	struct sync_fence_info fa, fb;

	CHECK(a != b);
	CHECK_EQ(sf_count(merge(a, b, "ab")), 1);
	inc(tl, 4);
	fa = sf_fence(a);
	fb = sf_fence(b);
	CHECK_EQ(fa.status, 1);
	CHECK_EQ(fa.timestamp_ns, fb.timestamp_ns);
}

static void t_swsync_close_timeline_enoent(void)
{
	int tl = open_timeline(), tl2 = open_timeline();
	int f1 = create_fence(tl, 1), f2 = create_fence(tl, 2),
	    f3 = create_fence(tl, 3), g = create_fence(tl2, 1);
	int m = merge(f2, g, "m");
	int m_polled = merge(f3, g, "mp");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];
	struct sync_fence_info f;

	inc(tl, 1);
	CHECK_EQ(revents(m_polled, POLLIN, 0), 0); /* enables signaling */
	xclose(tl);
	xclose(tl2);

	CHECK_EQ(sf_fence(f1).status, 1);
	f = sf_fence(f2);
	CHECK_EQ(f.status, -ENOENT);
	CHECK(f.timestamp_ns != 0);
	CHECK_EQ(sf_status(f2), -ENOENT);
	CHECK_EQ(revents(f2, POLLIN | POLLOUT, 0), POLLIN);
	CHECK_EQ(revents(f3, POLLIN, 0), POLLIN);

	/* a merge made before the close reports the error per fence */
	REQUIRE(file_info(m, &info, fi) == 2);
	CHECK_EQ(fi[0].status, -ENOENT);
	CHECK_EQ(fi[1].status, -ENOENT);
	CHECK_EQ(info.status, -ENOENT);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(m_polled, POLLIN, BLOCK_MS), POLLIN);
	CHECK_EQ(sf_status(m_polled), -ENOENT);

	/* merging error-signaled fences drops them: a signaled stub, status 1 */
	REQUIRE(file_info(merge(f2, g, "late"), &info, fi) == 1);
	CHECK_STR(fi[0].driver_name, "stub");
	CHECK_EQ(fi[0].status, 1);
	CHECK_EQ(info.status, 1);
}

/*
 * Count-only status of a merge (a dma_fence_array) whose members failed
 * while nobody waited on it: the array picks up the members' error only when
 * its signaling is enabled (poll) before it is found signaled.  If a
 * count-only FILE_INFO looks first, the array is signaled without error and
 * stays at status 1; the per-fence FILE_INFO still reports the errors.
 */
static void t_swsync_close_unpolled_merge_status(void)
{
	int tl = open_timeline(), tl2 = open_timeline();
	int ma = merge(create_fence(tl, 1), create_fence(tl2, 1), "ma");
	int mb = merge(create_fence(tl, 2), create_fence(tl2, 2), "mb");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	xclose(tl);
	xclose(tl2);
	/* poll first: the error propagates */
	CHECK_EQ(revents(ma, POLLIN, 0), POLLIN);
	CHECK_EQ(sf_status(ma), -ENOENT);
	/* count-only FILE_INFO first: signaled without error (dmasync enables
	 * signaling at creation: "poll" row of the sync file table) */
	CHECK_EQ(sf_status(mb), KNOWN(-ENOENT, 1));
	CHECK_EQ(revents(mb, POLLIN, 0), POLLIN);
	CHECK_EQ(sf_status(mb), KNOWN(-ENOENT, 1));
	REQUIRE(file_info(mb, &info, fi) == 2);
	CHECK_EQ(info.status, -ENOENT);
	CHECK_EQ(fi[0].status, -ENOENT);
	CHECK_EQ(fi[1].status, -ENOENT);
}

static void t_swsync_bad_args(void)
{
	int tl = open_timeline();
	struct sw_sync_create_fence_data d;
	__u32 one = 1;
	void *ro;

	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, NULL), EFAULT);
	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, (void *)8), EFAULT);
	/* readable but not writable: the fd is not leaked (fd accounting) */
	memset(&d, 0, sizeof(d));
	d.value = 1;
	ro = ro_page(&d, sizeof(d));
	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, ro), EFAULT);
	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_INC, NULL), EFAULT);
	/* INC only reads its argument */
	ro = ro_page(&one, sizeof(one));
	CHECK_EQ(U_ioctl(tl, SW_SYNC_IOC_INC, ro), 0);
	CHECK_ERR(U_ioctl(tl, _IO('W', 9), 0), ENOTTY);
	/* 'W' 2 is SW_SYNC_GET_DEADLINE from Linux 6.4 on, which dmasync
	 * follows ("SW_SYNC_GET_DEADLINE" row): nonzero fields are EINVAL */
	CHECK_ERR(U_ioctl(tl, _IOWR('W', 2, struct sync_set_deadline), &d), KNOWN(EINVAL, ENOTTY));
	CHECK_ERR(U_ioctl(tl, SYNC_IOC_FILE_INFO, &d), ENOTTY);
	CHECK_ERR(U_ioctl(tl, DMA_BUF_IOCTL_SYNC, &d), ENOTTY);
	CHECK_ERR(U_ioctl(closed_fd(), SW_SYNC_IOC_INC, &one), EBADF);
}

/* The timeline fd has no poll method: always readable and writable. */
static void t_swsync_timeline_poll(void)
{
	int tl = open_timeline();

	create_fence(tl, 1);
	CHECK_EQ(revents(tl, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	CHECK_EQ(revents(tl, POLLIN, 0), POLLIN);
	/* No poll method: the kernel's default mask, whatever is asked (the
	 * dmasync_poll() of a linked program shows the socket's extra bits) */
	CHECK_EQ(revents(tl, POLLIN | POLLOUT | POLLPRI | POLLRDNORM | POLLWRNORM | POLLRDBAND |
				     POLLWRBAND | POLLRDHUP, 0) &
			 ~WRAPPER_KNOWN(POLLWRBAND | POLLRDHUP, 0),
		 POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
}

/* ================================================================== */
/* sync_file: poll and misc                                           */

static void t_syncfile_poll_sticky(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);

	CHECK_EQ(revents(f, POLLIN, 0), 0);
	CHECK_EQ(revents(f, POLLIN | POLLOUT | POLLPRI, 0), 0);
	inc(tl, 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
	/* POLLIN is the only event a sync_file ever reports */
	CHECK_EQ(revents(f, POLLOUT, 0), 0);
	/* dmasync's native socket poll adds POLLRDNORM when asked ("poll" row) */
	CHECK_EQ(revents(f, POLLIN | POLLOUT | POLLPRI | POLLRDNORM, 0),
		 WRAPPER_KNOWN(POLLIN | POLLRDNORM, POLLIN));
	inc(tl, 10);
	CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
}

static void t_syncfile_poll_blocking_thread(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	struct delayed *d;
	int64_t t0;
	int r;

	d = delayed_inc_start(tl, DELAY_MS);
	t0 = now_ns();
	r = revents(f, POLLIN, BLOCK_MS);
	delayed_inc_join(d);
	CHECK_EQ(r, POLLIN);
	CHECKF(ms_since(t0) >= MIN_WAIT_MS, "woke after %lld ms", (long long)ms_since(t0));
}

static void t_syncfile_poll_blocking_child(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	int64_t t0 = now_ns();
	pid_t pid = fork_inc(tl, DELAY_MS);
	int r = revents(f, POLLIN, BLOCK_MS);

	CHECK_EQ(wait_child(pid), 0);
	CHECK_EQ(r, POLLIN);
	CHECKF(ms_since(t0) >= MIN_WAIT_MS, "woke after %lld ms", (long long)ms_since(t0));
}

/*
 * A timeline whose last fd goes with a child's exit: its points have
 * signaled -ENOENT by the time the parent's waitpid() returns (the exit
 * closes the child's fds before the parent can reap it).  Looped, since a
 * late release shows only now and then.
 */
static void t_swsync_released_by_exit(void)
{
	int late = 0, bad = 0;

	for (int i = 0; i < 40; i++) {
		int tl = open_timeline(), f = create_fence(tl, 1), go[2], st;
		pid_t pid;
		char c;

		REQUIRE(f >= 0 && pipe2(go, O_CLOEXEC) == 0);
		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			/* holds the timeline until the parent let go of it */
			close(go[1]);
			_exit(read(go[0], &c, 1) == 0 ? 0 : 1);
		}
		close(go[0]);
		U_close(tl);
		close(go[1]);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
		st = sf_status(f);
		late += st == 0;
		bad += st != 0 && st != -ENOENT;
		U_close(f);
	}
	CHECK_EQ(late, 0);
	CHECK_EQ(bad, 0);
}

/*
 * An epoll set holding a sync file is readable once the sync file is:
 * right after this process's INC, epoll_wait(), epoll_pwait() and
 * epoll_pwait2() of it, and poll(), select() and a set holding it, and
 * right after another process's INC that it learned of (here through a
 * pipe), poll() of it, see it with no timeout.  Looped, since a late
 * signal shows only now and then.
 */
static void t_epoll_set_polled_after_inc(void)
{
	static const struct timespec zero_ts;
	int late_own = 0, late_sel = 0, late_nest = 0, late_other = 0, late_wait = 0;

	for (int i = 0; i < 21; i++) {
		int tl = open_timeline(), f = create_fence(tl, 1), g = create_fence(tl, 2);
		int ep = epoll_create1(EPOLL_CLOEXEC), outer = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN }, out[2];
		struct pollfd p = { .fd = ep, .events = POLLIN };
		struct pollfd po = { .fd = outer, .events = POLLIN };
		int ep2 = epoll_create1(EPOLL_CLOEXEC), said[2], st;
		struct pollfd p2 = { .fd = ep2, .events = POLLIN };
		struct timeval zero = { 0, 0 };
		int n;
		fd_set rs;
		pid_t pid;
		char c;

		REQUIRE(ep >= 0 && outer >= 0 && ep2 >= 0 && pipe2(said, O_CLOEXEC) == 0);
		REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) == 0);
		REQUIRE(epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev) == 0);
		REQUIRE(epoll_ctl(ep2, EPOLL_CTL_ADD, g, &ev) == 0);
		inc(tl, 1);
		/* each of the epoll waits first, in turn */
		if (i % 3 == 0)
			late_wait += epoll_wait(ep, out, 2, 0) != 1;
		else if (i % 3 == 1)
			late_wait += epoll_pwait(ep, out, 2, 0, NULL) != 1;
		else if ((n = epoll_pwait2(ep, out, 2, &zero_ts, NULL)) >= 0 || errno != ENOSYS)
			late_wait += n != 1;	/* (valgrind 3.19 has no epoll_pwait2) */
		late_own += poll(&p, 1, 0) != 1 || p.revents != POLLIN;
		FD_ZERO(&rs);
		FD_SET(ep, &rs);
		late_sel += select(ep + 1, &rs, NULL, NULL, &zero) != 1;
		late_nest += poll(&po, 1, 0) != 1;
		/* another process's INC, which it tells us of */
		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			__u32 one = 1;

			_exit(U_ioctl(tl, SW_SYNC_IOC_INC, &one) || write(said[1], "x", 1) != 1);
		}
		if (read(said[0], &c, 1) == 1)
			late_other += poll(&p2, 1, 0) != 1 || p2.revents != POLLIN;
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		close(said[0]);
		close(said[1]);
		close(ep);
		close(ep2);
		close(outer);
		U_close(f);
		U_close(g);
		U_close(tl);
	}
	CHECK_EQ(late_wait, 0);
	CHECK_EQ(late_own, 0);
	CHECK_EQ(late_sel, 0);
	CHECK_EQ(late_nest, 0);
	CHECK_EQ(late_other, 0);
}

/* The fd numbers a directory listing of this process's fds names: a
 * bitmap of those below FD_SCAN (opendir() of @path, or fdopendir() of an
 * fd of it if @by_fd); the count of all. */
static int list_fds(const char *path, bool by_fd, unsigned char *seen)
{
	int n = 0, dfd = -1;
	struct dirent *e;
	DIR *d;

	memset(seen, 0, FD_SCAN);
	if (by_fd) {
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d = dfd >= 0 ? fdopendir(dfd) : NULL;
	} else {
		d = opendir(path);
	}
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((e = readdir(d))) {
		long fd;

		if (e->d_name[0] == '.')
			continue;
		fd = strtol(e->d_name, NULL, 10);
		if (fd != dirfd(d))
			n++;
		if (fd >= 0 && fd < FD_SCAN && fd != dirfd(d))
			seen[fd] = 1;
	}
	closedir(d);
	return n;
}

/*
 * A program counting its fds in /proc/self/fd, /proc/self/fdinfo or
 * /dev/fd finds, after using objects and closing them, what it found
 * before, and exactly the fds fcntl() says are open (under dmasync, not
 * the library's own).
 */
/* Publishes its thread id, then waits for a byte on the pipe. */
static int census_tid;
static void *census_thread(void *arg)
{
	int *p = arg;
	char c;

	__atomic_store_n(&census_tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	(void)!read(p[0], &c, 1);
	return NULL;
}

static void t_fd_listing_census(void)
{
	static const char *const dirs[] = { "/proc/self/fd", "/proc/self/fdinfo", "/dev/fd" };
	static unsigned char before[3][FD_SCAN], now[FD_SCAN];
	int count[3], hi = 0, open_n = 0;
	char self[64];

	/* the second round against the first (the first may leave what the
	 * program keeps, as the C library's or the suite's own fds) */
	for (int round = 0; round < 2; round++) {
		int tl = open_timeline(), f = create_fence(tl, 1);
		int heap = U_open(HEAP_PATH, O_RDONLY | O_CLOEXEC), b;
		struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
		struct pollfd p = { .fd = f, .events = POLLIN };

		REQUIRE(heap >= 0 && U_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) == 0);
		U_close(heap);
		b = (int)a.fd;
		REQUIRE(f >= 0);
		CHECK_EQ(U_poll(&p, 1, 0), 0);
		inc(tl, 1);
		CHECK_EQ(U_poll(&p, 1, 0), 1);
		U_close(f);
		U_close(b);
		U_close(tl);
		if (round)
			break;
		for (int i = 0; i < 3; i++)
			count[i] = list_fds(dirs[i], i == 1, before[i]);
		REQUIRE(count[0] >= 3);
	}
	for (int i = 0; i < 3; i++) {
		int n = list_fds(dirs[i], i == 1, now);

		if (count[i] < 0) {	/* no /dev/fd in the kernel VM */
			CHECK_EQ(n, -1);
			continue;
		}
		CHECK_EQ(n, count[i]);
		CHECK_EQ(memcmp(now, before[i], FD_SCAN), 0);
	}
	/* the listing is what fcntl() sees, above FD_SCAN too */
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0) {
			open_n++;
			hi = fd;
		}
	CHECK_EQ(list_fds("/proc/self/fd", false, now), open_n);
	snprintf(self, sizeof(self), "/proc/%d/fd", (int)getpid());
	CHECK_EQ(list_fds(self, true, now), open_n);
	CHECK(hi < FD_SCAN);
	/* scandir() (libuv's, so Node's, way to list) sees them and its own */
	{
		struct dirent **names;
		int n = scandir("/proc/self/fd", &names, NULL, alphasort), listed = 0;

		REQUIRE(n >= 0);
		for (int i = 0; i < n; i++) {
			listed += names[i]->d_name[0] != '.';
			free(names[i]);
		}
		free(names);
		CHECK_EQ(listed, open_n + 1);
	}
	/* readdir_r() (deprecated, still used) too */
	{
		DIR *d = opendir("/proc/self/fd");
		struct dirent ent, *e;
		int listed = 0;

		REQUIRE(d);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		while (readdir_r(d, &ent, &e) == 0 && e)
			listed += e->d_name[0] != '.';
#pragma GCC diagnostic pop
		closedir(d);
		CHECK_EQ(listed, open_n + 1);
	}
	/* and a listing by a name other than "fd": "." after chdir() */
	{
		int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		REQUIRE(cwd >= 0);
		if (chdir("/proc/self/fd") == 0) {
			CHECK_EQ(list_fds(".", false, now), open_n + 1);	/* and cwd */
			CHECK_EQ(fchdir(cwd), 0);
		} else {
			CHECK(!"chdir /proc/self/fd");
		}
		close(cwd);
	}
	/* names relative to a directory fd of /proc/self/fd, as the paths */
	{
		int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int tl = open_timeline(), f = create_fence(tl, 1);
		char name[16], buf[64];
		ssize_t n;

		REQUIRE(dir >= 0);
		snprintf(name, sizeof(name), "%d", f);
		n = readlinkat(dir, name, buf, sizeof(buf) - 1);
		CHECK(n > 0);
		buf[n > 0 ? n : 0] = '\0';
		CHECK_STR(buf, "anon_inode:sync_file");
		for (int fd = hi + 4; fd < 4096; fd++) {
			snprintf(name, sizeof(name), "%d", fd);
			if (readlinkat(dir, name, buf, sizeof(buf)) >= 0 || errno != ENOENT) {
				CHECKF(0, "readlinkat(/proc/self/fd, %s): a link past the highest fd",
				       name);
				break;
			}
		}
		xclose(f);
		xclose(tl);
		close(dir);
	}
	/* a thread's view, and another thread's, as the process's */
	{
		int tid;
		char tdir[64];
		pthread_t th;
		int p[2];
		char c;

		snprintf(tdir, sizeof(tdir), "/proc/self/task/%ld/fd", (long)syscall(SYS_gettid));
		CHECK_EQ(list_fds(tdir, false, now), open_n);
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		REQUIRE(pthread_create(&th, NULL, census_thread, p) == 0);
		while (!(tid = __atomic_load_n(&census_tid, __ATOMIC_ACQUIRE)))
			sleep_ms(1);
		__atomic_store_n(&census_tid, 0, __ATOMIC_RELAXED);
		snprintf(tdir, sizeof(tdir), "/proc/%d/fd", tid);
		CHECK_EQ(list_fds(tdir, false, now), open_n + 2);
		snprintf(tdir, sizeof(tdir), "/proc/%d/task/%d/fdinfo", tid, tid);
		CHECK_EQ(list_fds(tdir, true, now), open_n + 2);
		for (int fd = hi + 3; fd < 4096; fd++) {
			char link[80], buf[64];

			snprintf(link, sizeof(link), "/proc/%d/fd/%d", tid, fd);
			if (readlink(link, buf, sizeof(buf)) >= 0 || errno != ENOENT) {
				CHECKF(0, "%s: a link past the highest fd", link);
				break;
			}
			snprintf(link, sizeof(link), "/proc/self/task/%d/fd/%d", tid, fd);
			if (readlink(link, buf, sizeof(buf)) >= 0 || errno != ENOENT) {
				CHECKF(0, "%s: a link past the highest fd", link);
				break;
			}
		}
		c = 0;
		(void)!write(p[1], &c, 1);
		pthread_join(th, NULL);
		close(p[0]);
		close(p[1]);
	}
	/* and a number the listing leaves out has no link either */
	for (int fd = hi + 1; fd < 4096; fd++) {
		char link[64], buf[64];

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if (readlink(link, buf, sizeof(buf)) >= 0 || errno != ENOENT) {
			CHECK(!"a link past the highest fd");
			break;
		}
	}
}

/* The highest fd open, as the program sees them. */
static int highest_fd(void)
{
	int hi = 2;

	for (int fd = 3; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			hi = fd;
	return hi;
}

/*
 * A program that closes every fd above its highest with a raw
 * close_range() system call (as some do before they exec, or to tidy up):
 * every request after it works, the first included, and an INC is either
 * done and answered 0 or not done.  (dmasync's own fds, which its
 * close_range() wrapper goes around, are gone then.)
 */
static void t_raw_close_range_above_highest(void)
{
	int tl = open_timeline(), f = create_fence(tl, 1), g = create_fence(tl, 5), m, t2;
	struct sync_merge_data md;
	__u32 one = 1;

	REQUIRE(f >= 0 && g >= 0);
	syscall(SYS_close_range, highest_fd() + 1, ~0u, 0);
	CHECK_EQ(U_ioctl(tl, SW_SYNC_IOC_INC, &one), 0);
	CHECK_EQ(sf_status(f), 1);
	syscall(SYS_close_range, highest_fd() + 1, ~0u, 0);
	memset(&md, 0, sizeof(md));
	md.fd2 = g;
	strcpy(md.name, "m");
	CHECK_EQ(U_ioctl(f, SYNC_IOC_MERGE, &md), 0);
	m = md.fence;
	CHECK(m >= 0);
	syscall(SYS_close_range, highest_fd() + 1, ~0u, 0);
	CHECK(create_fence(tl, 7) >= 0);
	syscall(SYS_close_range, highest_fd() + 1, ~0u, 0);
	t2 = U_open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	CHECK(t2 >= 0);
	syscall(SYS_close_range, highest_fd() + 1, ~0u, 0);
	CHECK_EQ(U_ioctl(tl, SW_SYNC_IOC_INC, &one), 0);
	CHECK_EQ(sf_status(m), 0);
	CHECK_EQ(U_ioctl(tl, SW_SYNC_IOC_INC, &(__u32){ 3 }), 0);
	CHECK_EQ(sf_status(m), 1);
	U_close(m);
	U_close(t2);
}

static void t_syncfile_poll_many(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	struct pollfd p[3];

	p[0].fd = create_fence(t1, 1);
	p[1].fd = create_fence(t2, 1);
	p[2].fd = create_fence(t2, 0);
	for (int i = 0; i < 3; i++) {
		p[i].events = POLLIN;
		p[i].revents = -1;
	}
	CHECK_EQ(U_poll(p, 3, 0), 1);
	CHECK_EQ(p[0].revents, 0);
	CHECK_EQ(p[1].revents, 0);
	CHECK_EQ(p[2].revents, POLLIN);
	inc(t2, 1);
	CHECK_EQ(U_poll(p, 3, 0), 2);
	CHECK_EQ(p[0].revents, 0);
	CHECK_EQ(p[1].revents, POLLIN);
}

static void t_syncfile_ppoll_timeout(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	struct pollfd p = { .fd = f, .events = POLLIN };
	struct timespec ts = { 0, 50 * 1000000 };
	sigset_t mask;
	int64_t t0 = now_ns();

	sigemptyset(&mask);
	CHECK_EQ(U_ppoll(&p, 1, &ts, &mask), 0);
	CHECK(ms_since(t0) >= 40);
	CHECK_EQ(p.revents, 0);
	inc(tl, 1);
	ts.tv_nsec = 0;
	CHECK_EQ(U_ppoll(&p, 1, &ts, NULL), 1);
	CHECK_EQ(p.revents, POLLIN);
}

static void t_syncfile_lseek_read(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	char c;

	CHECK_ERR(U_lseek(f, 0, SEEK_SET), ESPIPE);
	CHECK_ERR(U_lseek(f, 0, SEEK_END), ESPIPE);
	CHECK_ERR(U_read(f, &c, 1), EINVAL);
}

static void t_syncfile_unknown_ioctls(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	char buf[256];
	__u32 one = 1;

	memset(buf, 0, sizeof(buf));
	CHECK_ERR(U_ioctl(f, _IO('>', 9), 0), ENOTTY);
	/* opcodes 1 and 2 were the pre-4.7 Android MERGE / FENCE_INFO */
	CHECK_ERR(U_ioctl(f, _IOWR('>', 1, struct sync_merge_data), buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, _IOWR('>', 2, struct sync_file_info), buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, _IOWR('>', 0, struct sync_merge_data), buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, SW_SYNC_IOC_INC, &one), ENOTTY);
	CHECK_ERR(U_ioctl(f, SW_SYNC_IOC_CREATE_FENCE, buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, DMA_BUF_IOCTL_SYNC, buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, buf), ENOTTY);
	CHECK_ERR(U_ioctl(f, DMA_BUF_SET_NAME_B, "x"), ENOTTY);
	CHECK_ERR(U_ioctl(closed_fd(), SYNC_IOC_FILE_INFO, buf), EBADF);
	inc(tl, 1);
}

/* SYNC_IOC_SET_DEADLINE is 6.4+: Linux 6.1 answers ENOTTY. */
static void t_syncfile_set_deadline(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	struct sync_set_deadline dl = { .deadline_ns = (__u64)now_ns() + 1000000, .pad = 0 };
	int r;

	errno = 0;
	r = U_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl);
	if (r == -1 && errno == ENOTTY) {
		diag("SYNC_IOC_SET_DEADLINE: ENOTTY (pre-6.4 behaviour)");
		/* consistently absent, whatever the argument */
		CHECK_ERR(U_ioctl(f, SYNC_IOC_SET_DEADLINE, NULL), ENOTTY);
		inc(tl, 1);
		return;
	}
	diag("SYNC_IOC_SET_DEADLINE supported (6.4+ behaviour)");
	CHECK_EQ(r, 0);
	/* the timeline reports what was set, for this point only */
	{
		int g = create_fence(tl, 2);
		struct sw_sync_get_deadline gd = { .fence_fd = f };

		CHECK_EQ(U_ioctl(tl, SW_SYNC_GET_DEADLINE, &gd), 0);
		CHECKF(gd.fence_fd == f && gd.deadline_ns == dl.deadline_ns && !gd.pad,
		       "GET_DEADLINE: fd %d (was %d), deadline %llu (set %llu)", gd.fence_fd, f,
		       (unsigned long long)gd.deadline_ns, (unsigned long long)dl.deadline_ns);
		/* a later deadline does not move it; an earlier one does */
		dl.deadline_ns += 5000;
		CHECK_EQ(U_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0);
		gd.deadline_ns = 0;
		CHECK_EQ(U_ioctl(tl, SW_SYNC_GET_DEADLINE, &gd), 0);
		CHECK_EQ(gd.deadline_ns, dl.deadline_ns - 5000);
		dl.deadline_ns -= 10000;
		CHECK_EQ(U_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0);
		gd.deadline_ns = 0;
		CHECK_EQ(U_ioctl(tl, SW_SYNC_GET_DEADLINE, &gd), 0);
		CHECK_EQ(gd.deadline_ns, dl.deadline_ns);
		/* none set: ENOENT; not a sync file: EINVAL */
		gd.deadline_ns = 0;
		gd.fence_fd = g;
		CHECK_ERR(U_ioctl(tl, SW_SYNC_GET_DEADLINE, &gd), ENOENT);
		gd.fence_fd = tl;
		CHECK_ERR(U_ioctl(tl, SW_SYNC_GET_DEADLINE, &gd), EINVAL);
		inc(tl, 1);
	}
	dl.pad = 1;
	CHECK_ERR(U_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), EINVAL);
	CHECK_ERR(U_ioctl(f, SYNC_IOC_SET_DEADLINE, NULL), EFAULT);
	inc(tl, 1);
	dl.pad = 0;
	CHECK_EQ(U_ioctl(f, SYNC_IOC_SET_DEADLINE, &dl), 0); /* signaled: no-op */
}

/* ================================================================== */
/* SYNC_IOC_FILE_INFO                                                 */

static void t_fileinfo_two_call_protocol(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), t3 = open_timeline();
	int m = merge(merge(create_fence(t1, 1), create_fence(t2, 1), "m12"),
		      create_fence(t3, 1), "merged-3");
	struct sync_file_info info;
	struct sync_fence_info fi[10];

	/* count only: sync_fence_info is not touched */
	memset(&info, 0, sizeof(info));
	info.sync_fence_info = 0xdead;
	REQUIRE(U_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	CHECK_EQ(info.status, 0);
	CHECK_STR(info.name, "merged-3");
	CHECK_EQ(info.sync_fence_info, 0xdead);

	/* exactly enough room */
	memset(fi, 0x5a, sizeof(fi));
	memset(&info, 0, sizeof(info));
	info.num_fences = 3;
	info.sync_fence_info = (uintptr_t)fi;
	REQUIRE(U_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_STR(fi[i].driver_name, "sw_sync");
		CHECK_EQ(fi[i].flags, 0);
	}

	/* more room: num_fences is rewritten, the rest is untouched */
	memset(fi, 0x5a, sizeof(fi));
	info.num_fences = 10;
	REQUIRE(U_ioctl(m, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK_EQ(info.num_fences, 3);
	CHECK_EQ(((unsigned char *)&fi[3])[0], 0x5a);
	CHECK_EQ(fi[9].flags, 0x5a5a5a5a);

	/* not enough room */
	info.num_fences = 2;
	CHECK_ERR(U_ioctl(m, SYNC_IOC_FILE_INFO, &info), EINVAL);
	info.num_fences = 1;
	CHECK_ERR(U_ioctl(m, SYNC_IOC_FILE_INFO, &info), EINVAL);
	inc(t1, 1);
	inc(t2, 1);
	inc(t3, 1);
}

static void t_fileinfo_fence_fields(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	struct sync_fence_info fi;
	int64_t t0, t1;

	fi = sf_fence(f); /* entries pre-filled with 0xa5 by file_info() */
	CHECK_STR(fi.obj_name, comm);
	CHECK_STR(fi.driver_name, "sw_sync");
	CHECK_EQ(fi.status, 0);
	CHECK_EQ(fi.flags, 0);
	CHECK_EQ(fi.timestamp_ns, 0);
	/* FILE_INFO never signals by itself: still 0 after a second look */
	CHECK_EQ(sf_fence(f).status, 0);

	t0 = now_ns();
	inc(tl, 1);
	t1 = now_ns();
	fi = sf_fence(f);
	CHECK_EQ(fi.status, 1);
	CHECK_EQ(fi.flags, 0);
	CHECKF(fi.timestamp_ns >= (__u64)t0 && fi.timestamp_ns <= (__u64)t1,
	       "timestamp %llu outside the INC window [%lld, %lld]",
	       (unsigned long long)fi.timestamp_ns, (long long)t0, (long long)t1);
	/* the timestamp does not move */
	CHECK_EQ(sf_fence(f).timestamp_ns, fi.timestamp_ns);
}

static void t_fileinfo_status_aggregate(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	int m = merge(create_fence(t1, 1), create_fence(t2, 1), "agg");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	CHECK_EQ(sf_status(m), 0);
	inc(t2, 1);
	REQUIRE(file_info(m, &info, fi) == 2);
	CHECK_EQ(info.status, 0);
	CHECK_EQ(sf_status(m), 0);
	CHECK_EQ(fi[0].status + fi[1].status, 1);
	inc(t1, 1);
	REQUIRE(file_info(m, &info, fi) == 2);
	CHECK_EQ(info.status, 1);
	CHECK_EQ(sf_status(m), 1);
}

static void t_fileinfo_bad_args(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	struct sync_file_info info;
	void *ro;

	memset(&info, 0, sizeof(info));
	info.flags = 1;
	CHECK_ERR(U_ioctl(f, SYNC_IOC_FILE_INFO, &info), EINVAL);
	info.flags = 0;
	info.pad = 1;
	CHECK_ERR(U_ioctl(f, SYNC_IOC_FILE_INFO, &info), EINVAL);
	info.pad = 0;
	CHECK_ERR(U_ioctl(f, SYNC_IOC_FILE_INFO, NULL), EFAULT);
	info.num_fences = 1;
	info.sync_fence_info = 8;
	CHECK_ERR(U_ioctl(f, SYNC_IOC_FILE_INFO, &info), EFAULT);
	info.num_fences = 0;
	ro = ro_page(&info, sizeof(info));
	CHECK_ERR(U_ioctl(f, SYNC_IOC_FILE_INFO, ro), EFAULT);
	inc(tl, 1);
}

/* ================================================================== */
/* SYNC_IOC_MERGE                                                     */

static void t_merge_two_timelines(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	int a = create_fence(t1, 1), b = create_fence(t2, 1);
	int m = merge(a, b, "merged-ab");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	CHECK(is_cloexec(m));
	REQUIRE(file_info(m, &info, fi) == 2);
	CHECK_STR(info.name, "merged-ab");
	CHECK_EQ(info.status, 0);
	CHECK_STR(fi[0].obj_name, comm);
	CHECK_STR(fi[1].obj_name, comm);
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	inc(t2, 1);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
	/* the inputs are untouched */
	CHECK_EQ(sf_count(a), 1);
	CHECK_EQ(sf_count(b), 1);
}

static void t_merge_same_timeline_keeps_later(void)
{
	int tl = open_timeline();
	int a = create_fence(tl, 1), b = create_fence(tl, 3);
	int ab = merge(a, b, "ab"), ba = merge(b, a, "ba");

	CHECK_EQ(sf_count(ab), 1);
	CHECK_EQ(sf_count(ba), 1);
	inc(tl, 1);
	CHECK_EQ(revents(ab, POLLIN, 0), 0);
	CHECK_EQ(revents(ba, POLLIN, 0), 0);
	inc(tl, 2);
	CHECK_EQ(revents(ab, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(ba, POLLIN, 0), POLLIN);
}

static void t_merge_drops_signaled(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	int a = create_fence(t1, 1), b = create_fence(t2, 1);
	int m;
	char pa[32], pb[32];

	inc(t1, 1);
	m = merge(a, b, "one-left");
	CHECK_EQ(sf_count(m), 1);
	CHECK_EQ(sf_status(m), 0);
	sf_name(b, pb);
	sf_name(a, pa);
	CHECK(strcmp(pa, pb) != 0);
	CHECK_EQ(revents(m, POLLIN, 0), 0);
	inc(t2, 1);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
}

static void t_merge_all_signaled_stub(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	int a = create_fence(t1, 1), b = create_fence(t2, 1);
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO], fb;
	int m;

	inc(t1, 1);
	sleep_ms(2);
	inc(t2, 1);
	fb = sf_fence(b);
	CHECK(fb.timestamp_ns > sf_fence(a).timestamp_ns);
	m = merge(a, b, "all-done");
	REQUIRE(file_info(m, &info, fi) == 1);
	CHECK_STR(info.name, "all-done");
	CHECK_EQ(info.status, 1);
	CHECK_STR(fi[0].obj_name, "stub");
	CHECK_STR(fi[0].driver_name, "stub");
	CHECK_EQ(fi[0].status, 1);
	CHECK_EQ(fi[0].flags, 0);
	/* carries the latest signal time of the inputs */
	CHECK_EQ(fi[0].timestamp_ns, fb.timestamp_ns);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
	CHECK(is_cloexec(m));
}

static void t_merge_self(void)
{
	int tl = open_timeline();
	int a = create_fence(tl, 1);
	int m = merge(a, a, "self");
	char name[32];

	CHECK_EQ(sf_count(m), 1);
	sf_name(m, name);
	CHECK_STR(name, "self");
	inc(tl, 1);
	CHECK_EQ(revents(m, POLLIN, 0), POLLIN);
}

static void t_merge_flattens_nested(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), t3 = open_timeline();
	int m12 = merge(create_fence(t1, 1), create_fence(t2, 1), "m12");
	int m123 = merge(m12, create_fence(t3, 1), "m123");
	int m1212 = merge(m12, m12, "m1212");
	int mx = merge(m123, create_fence(t1, 2), "mx");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	CHECK_EQ(sf_count(m123), 3);
	CHECK_EQ(sf_count(m1212), 2);
	REQUIRE(file_info(mx, &info, fi) == 3);
	inc(t1, 1);
	CHECK_EQ(revents(mx, POLLIN, 0), 0); /* t1:2 replaced t1:1 */
	inc(t2, 1);
	inc(t3, 1);
	CHECK_EQ(revents(m123, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(mx, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(mx, POLLIN, 0), POLLIN);
}

static void t_merge_names(void)
{
	int t1 = open_timeline(), t2 = open_timeline();
	int a = create_fence(t1, 1), b = create_fence(t2, 1);
	struct sync_merge_data md;
	char name[32], exp[32];
	unsigned long long ctx;
	long long seq;

	/* 32 bytes without NUL: truncated to 31 characters */
	memset(&md, 0, sizeof(md));
	memset(md.name, 'x', sizeof(md.name));
	md.fd2 = b;
	REQUIRE(U_ioctl(a, SYNC_IOC_MERGE, &md) == 0);
	sf_name(track(md.fence), name);
	memset(exp, 'x', 31);
	exp[31] = 0;
	CHECK_STR(name, exp);

	/* empty name: the default "<driver>-<timeline><ctx>-<seqno>" name of
	 * the merged fence, here a dma_fence_array */
	sf_name(merge(a, b, ""), name);
	CHECKF(parse_fence_name(name, "dma_fence_array-unbound", &ctx, &seq) && seq == 1,
	       "name \"%s\"", name);
	/* ... or of the single remaining fence */
	{
		char an[32];

		sf_name(merge(a, a, ""), name);
		sf_name(a, an);
		CHECK_STR(name, an);
	}
	/* the .fence input field is ignored */
	memset(&md, 0, sizeof(md));
	strcpy(md.name, "in");
	md.fd2 = b;
	md.fence = 12345;
	REQUIRE(U_ioctl(a, SYNC_IOC_MERGE, &md) == 0);
	CHECK(md.fence >= 0 && md.fence != 12345);
	track(md.fence);
	/* ... and the rest comes back as it went in */
	CHECKF(md.fd2 == b && !md.flags && !md.pad && !strcmp(md.name, "in"),
	       "fd2 %d (was %d), flags %u, pad %u, name \"%.32s\"", md.fd2, b, md.flags, md.pad,
	       md.name);
	inc(t1, 1);
	inc(t2, 1);
}

/*
 * What each ioctl writes back: Linux copies the whole argument out again,
 * its out fields set and everything else as the kernel's copy held it.
 */
static void t_args_written_back(void)
{
	int tl = open_timeline(), t2 = open_timeline();
	int a = create_fence(tl, 1), b = create_fence(t2, 1);
	struct sw_sync_create_fence_data cf;
	struct sync_merge_data md;
	struct sync_file_info info;
	struct sync_fence_info fi[2];

	/* CREATE_FENCE: value and all 32 name bytes as given */
	memset(&cf, 0, sizeof(cf));
	cf.value = 7;
	memset(cf.name, 'n', sizeof(cf.name));
	cf.fence = -1;
	REQUIRE(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf) == 0);
	track(cf.fence);
	CHECKF(cf.value == 7 && cf.name[0] == 'n' && cf.name[31] == 'n',
	       "CREATE_FENCE: value %u, name[0] %d, name[31] %d", cf.value, cf.name[0], cf.name[31]);

	/* MERGE: fd2, flags, pad as given; the name's last byte */
	memset(&md, 0, sizeof(md));
	memset(md.name, 'm', sizeof(md.name));
	md.fd2 = b;
	REQUIRE(U_ioctl(a, SYNC_IOC_MERGE, &md) == 0);
	track(md.fence);
	CHECKF(md.fd2 == b && !md.flags && !md.pad && md.name[0] == 'm',
	       "MERGE: fd2 %d (was %d), flags %u, pad %u", md.fd2, b, md.flags, md.pad);
	CHECKF(md.name[31] == 0, "MERGE: name[31] %d (Linux terminates its copy)", md.name[31]);

	/* FILE_INFO: the array pointer and the zero fields as given */
	memset(&info, 0, sizeof(info));
	info.num_fences = 2;
	info.sync_fence_info = (__u64)(uintptr_t)fi;
	REQUIRE(U_ioctl(md.fence, SYNC_IOC_FILE_INFO, &info) == 0);
	CHECK(info.sync_fence_info == (__u64)(uintptr_t)fi && !info.flags && !info.pad);
	CHECK_EQ(info.num_fences, 2);

	/* EXPORT_SYNC_FILE: flags as given */
	{
		int buf = new_dmabuf(PAGE);
		struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };

		REQUIRE(U_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) == 0);
		track(ex.fd);
		CHECK_EQ(ex.flags, DMA_BUF_SYNC_RW);
	}
	inc(tl, 1);
	inc(t2, 1);
}

static void t_merge_bad_args(void)
{
	int tl = open_timeline();
	int a = create_fence(tl, 1);
	int pw, pr = new_pipe(&pw);
	int mfd = new_memfd(PAGE, 0);
	struct sync_merge_data md;
	void *ro;

	CHECK_ERR(try_merge(a, a, "f", 1, 0), EINVAL);
	CHECK_ERR(try_merge(a, a, "p", 0, 1), EINVAL);
	CHECK_ERR(try_merge(a, pr, "pipe", 0, 0), ENOENT);
	CHECK_ERR(try_merge(a, -1, "-1", 0, 0), ENOENT);
	CHECK_ERR(try_merge(a, tl, "timeline", 0, 0), ENOENT);
	CHECK_ERR(try_merge(a, mfd, "memfd", 0, 0), ENOENT);
	CHECK_ERR(try_merge(a, closed_fd(), "closed", 0, 0), ENOENT);
	CHECK_ERR(try_merge(a, 1 << 20, "huge", 0, 0), ENOENT);
	if (have_udmabuf || have_heap)
		CHECK_ERR(try_merge(a, new_dmabuf(PAGE), "dmabuf", 0, 0), ENOENT);
	CHECK_ERR(U_ioctl(a, SYNC_IOC_MERGE, NULL), EFAULT);
	memset(&md, 0, sizeof(md));
	md.fd2 = a;
	ro = ro_page(&md, sizeof(md));
	CHECK_ERR(U_ioctl(a, SYNC_IOC_MERGE, ro), EFAULT); /* and no fd leak */
	/* MERGE on something that is not a sync_file */
	CHECK_ERR(try_merge(pr, a, "x", 0, 0), ENOTTY);
	CHECK_ERR(try_merge(tl, a, "x", 0, 0), ENOTTY);
	CHECK_ERR(try_merge(closed_fd(), a, "x", 0, 0), EBADF);
	(void)pw;
	inc(tl, 1);
}

/* ================================================================== */
/* udmabuf                                                            */

static void t_udmabuf_create_basic(void)
{
	int dev = open_udmabuf_dev();
	int mfd = new_memfd(3 * PAGE, F_SEAL_SHRINK);
	int b0 = try_udmabuf(dev, mfd, 0, 3 * PAGE, 0);
	int b1 = try_udmabuf(dev, mfd, PAGE, PAGE, UDMABUF_FLAGS_CLOEXEC);

	REQUIRE(b0 >= 0 && b1 >= 0);
	CHECK(!is_cloexec(b0));
	CHECK(is_cloexec(b1));
	CHECK_EQ(accmode(b0), O_RDWR);
	CHECK_EQ(U_lseek(b0, 0, SEEK_END), 3 * PAGE);
	CHECK_EQ(U_lseek(b1, 0, SEEK_END), PAGE);
	/* unknown flag bits are ignored */
	CHECK_OK(try_udmabuf(dev, mfd, 0, PAGE, 0x2));
	CHECK_OK(try_udmabuf(dev, mfd, 0, PAGE, 0xfffffffe));
	/* the same pages can be exported many times */
	CHECK_OK(try_udmabuf(dev, mfd, 0, 3 * PAGE, 0));
}

static void t_udmabuf_seals(void)
{
	int dev = open_udmabuf_dev();

	CHECK_ERR(try_udmabuf(dev, new_memfd(PAGE, 0), 0, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, new_memfd(PAGE, F_SEAL_GROW), 0, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, new_memfd(PAGE, F_SEAL_SHRINK | F_SEAL_WRITE),
			      0, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, new_memfd(PAGE, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE),
			      0, PAGE, 0), EINVAL);
	/* memfd without MFD_ALLOW_SEALING: only F_SEAL_SEAL */
	CHECK_ERR(try_udmabuf(dev, new_memfd_flags(PAGE, 0, 0), 0, PAGE, 0), EINVAL);
	CHECK_OK(try_udmabuf(dev, new_memfd(PAGE, F_SEAL_SHRINK), 0, PAGE, 0));
	CHECK_OK(try_udmabuf(dev, new_memfd(PAGE, F_SEAL_SHRINK | F_SEAL_GROW |
					    F_SEAL_SEAL), 0, PAGE, 0));
}

static void t_udmabuf_geometry(void)
{
	int dev = open_udmabuf_dev();
	int mfd = new_memfd(4 * PAGE, F_SEAL_SHRINK);
	int b;

	CHECK_ERR(try_udmabuf(dev, mfd, 100, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 0, PAGE + 1, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 0, 100, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 0, 0, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, PAGE, 0, 0), EINVAL);
	/* over the 64 MiB default size_limit_mb */
	CHECK_ERR(try_udmabuf(dev, mfd, 0, (64u << 20) + PAGE, 0), EINVAL);
	/* beyond the end of the memfd */
	CHECK_ERR(try_udmabuf(dev, mfd, 0, 5 * PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 4 * PAGE, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 3 * PAGE, 2 * PAGE, 0), EINVAL);
	/* size/alignment checks come before the fd is looked at */
	CHECK_ERR(try_udmabuf(dev, -1, 0, 0, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, -1, 1, PAGE, 0), EINVAL);
	/* a page index past the largest file's: EFBIG, before the end */
	CHECK_ERR(try_udmabuf(dev, mfd, 0xfffffffffffff000ull, PAGE, 0), EFBIG);
	CHECK_ERR(try_udmabuf(dev, mfd, 0x8000000000000000ull, PAGE, 0), EFBIG);
	CHECK_ERR(try_udmabuf(dev, mfd, 0x7ffffffffffff000ull, PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 1ull << 62, PAGE, 0), EINVAL);
	b = try_udmabuf(dev, mfd, PAGE, 2 * PAGE, 0);
	REQUIRE(b >= 0);
	CHECK_EQ(U_lseek(b, 0, SEEK_END), 2 * PAGE);
	CHECK_OK(try_udmabuf(dev, mfd, 3 * PAGE, PAGE, 0));
	/* a memfd whose size is not a whole number of pages: the page that
	 * holds its end counts whole */
	mfd = new_memfd(PAGE + 904, F_SEAL_SHRINK);
	b = try_udmabuf(dev, mfd, PAGE, PAGE, 0);
	CHECK(b >= 0);
	if (b >= 0)
		CHECK_EQ(U_lseek(b, 0, SEEK_END), PAGE);
	CHECK_OK(try_udmabuf(dev, mfd, 0, 2 * PAGE, 0));
	CHECK_ERR(try_udmabuf(dev, mfd, 0, 3 * PAGE, 0), EINVAL);
	CHECK_ERR(try_udmabuf(dev, mfd, 2 * PAGE, PAGE, 0), EINVAL);
}

static void t_udmabuf_bad_fds(void)
{
	int dev = open_udmabuf_dev();
	int pw, pr = new_pipe(&pw);
	int other = new_dmabuf_kind(KIND_UDMABUF, PAGE);

	CHECK_ERR(try_udmabuf(dev, pr, 0, PAGE, 0), EBADFD);
	CHECK_ERR(try_udmabuf(dev, pw, 0, PAGE, 0), EBADFD);
	CHECK_ERR(try_udmabuf(dev, -1, 0, PAGE, 0), EBADFD);
	CHECK_ERR(try_udmabuf(dev, closed_fd(), 0, PAGE, 0), EBADFD);
	CHECK_ERR(try_udmabuf(dev, dev, 0, PAGE, 0), EBADFD);
	CHECK_ERR(try_udmabuf(dev, other, 0, PAGE, 0), EBADFD);
	if (have_swsync) {
		int tl = open_timeline();

		CHECK_ERR(try_udmabuf(dev, tl, 0, PAGE, 0), EBADFD);
		CHECK_ERR(try_udmabuf(dev, create_fence(tl, 0), 0, PAGE, 0), EBADFD);
	}
}

static void t_udmabuf_bad_args(void)
{
	int dev = open_udmabuf_dev();
	char buf[64];

	memset(buf, 0, sizeof(buf));
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE, NULL), EFAULT);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, NULL), EFAULT);
	CHECK_ERR(U_ioctl(dev, _IO('u', 0x44), 0), ENOTTY);
	CHECK_ERR(U_ioctl(dev, _IOW('u', 0x41, struct udmabuf_create), buf), ENOTTY);
	CHECK_ERR(U_ioctl(dev, DMA_BUF_IOCTL_SYNC, buf), ENOTTY);
	CHECK_ERR(U_ioctl(dev, DMA_HEAP_IOCTL_ALLOC, buf), ENOTTY);
	CHECK_ERR(U_ioctl(dev, SYNC_IOC_FILE_INFO, buf), ENOTTY);
}

static struct udmabuf_create_list *new_list(unsigned count, __u32 flags)
{
	size_t len = sizeof(struct udmabuf_create_list) +
		     count * sizeof(struct udmabuf_create_item);
	struct udmabuf_create_list *l;

	len = (len + PAGE - 1) / PAGE * PAGE;
	l = track_map(mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), len);
	REQUIRE(l != MAP_FAILED);
	l->flags = flags;
	l->count = count;
	return l;
}

static void set_item(struct udmabuf_create_list *l, unsigned i, int memfd,
		     __u64 off, __u64 size)
{
	l->list[i].memfd = (__u32)memfd;
	l->list[i].__pad = 0;
	l->list[i].offset = off;
	l->list[i].size = size;
}

static void t_udmabuf_create_list(void)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(4 * PAGE, F_SEAL_SHRINK), mb = new_memfd(2 * PAGE, F_SEAL_SHRINK);
	struct udmabuf_create_list *l = new_list(2, 0);
	char *pa, *pb, *pu;
	int b;

	set_item(l, 0, ma, PAGE, 2 * PAGE);
	set_item(l, 1, mb, 0, PAGE);
	b = track(U_ioctl(dev, UDMABUF_CREATE_LIST, l));
	CHECKF(b >= 0, "UDMABUF_CREATE_LIST: %s", errname(errno));
	REQUIRE(b >= 0);
	CHECK(!is_cloexec(b));
	CHECK_EQ(U_lseek(b, 0, SEEK_END), 3 * PAGE);

	pa = map_shared(ma, 4 * PAGE, 0);
	pb = map_shared(mb, 2 * PAGE, 0);
	pu = map_shared(b, 3 * PAGE, 0);
	pa[PAGE + 1] = 'A';
	pa[2 * PAGE + 2] = 'B';
	pb[3] = 'C';
	CHECK_EQ(pu[1], 'A');
	CHECK_EQ(pu[PAGE + 2], 'B');
	CHECK_EQ(pu[2 * PAGE + 3], 'C');
	pu[2 * PAGE + 4] = 'D';
	CHECK_EQ(pb[4], 'D');
	pu[5] = 'E';
	CHECK_EQ(pa[PAGE + 5], 'E');
	CHECK_EQ(pa[5], 0);

	/* flags: CLOEXEC honoured; the item __pad is ignored */
	l->flags = UDMABUF_FLAGS_CLOEXEC;
	l->list[0].__pad = 0xffffffff;
	b = track(U_ioctl(dev, UDMABUF_CREATE_LIST, l));
	REQUIRE(b >= 0);
	CHECK(is_cloexec(b));
}

static void t_udmabuf_create_list_errors(void)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(2 * PAGE, F_SEAL_SHRINK), bad = new_memfd(PAGE, 0);
	struct udmabuf_create_list *l = new_list(2, 0);
	struct udmabuf_create_list head = { .flags = 0, .count = 1025 };
	int pw, pr = new_pipe(&pw);
	char *end;

	(void)pw;
	l->count = 0;
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	/* count over list_limit (1024) fails before the items are read */
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, &head), EINVAL);
	l->count = 2;
	set_item(l, 0, ma, 0, PAGE);
	set_item(l, 1, bad, 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	set_item(l, 1, pr, 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EBADFD);
	set_item(l, 1, ma, 0, 10);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	set_item(l, 1, ma, 0, 0);
	CHECK_OK(track(U_ioctl(dev, UDMABUF_CREATE_LIST, l))); /* empty item ok */
	set_item(l, 1, ma, PAGE, 2 * PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	/* items running into an unreadable page */
	end = page_before_hole();
	l = (struct udmabuf_create_list *)(end - sizeof(*l) - sizeof(l->list[0]));
	l->flags = 0;
	l->count = 2;
	set_item(l, 0, ma, 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EFAULT);
	l->count = 1;
	CHECK_OK(track(U_ioctl(dev, UDMABUF_CREATE_LIST, l)));
}

/*
 * A count larger than the items the caller put on its stack: the kernel
 * copies what follows the array (the caller's other locals) and validates
 * it, so the call fails with an errno, or in the unlikely case that the
 * bytes happen to form a valid item, succeeds.  An emulation must do no
 * worse: a sanitized program gets no overflow report from it.
 */
static void __attribute__((noinline)) list_overrun_on_stack(int dev, int memfd)
{
	union {
		struct udmabuf_create_list head;
		char bytes[sizeof(struct udmabuf_create_list) + sizeof(struct udmabuf_create_item)];
	} one;
	int b;

	memset(&one, 0, sizeof(one));
	one.head.count = 3;
	one.head.list[0].memfd = (__u32)memfd;
	one.head.list[0].size = PAGE;
	b = U_ioctl(dev, UDMABUF_CREATE_LIST, &one);
	if (b >= 0)
		U_close(b);
	else
		CHECKF(errno == EINVAL || errno == EBADFD || errno == EFAULT,
		       "errno %s", errname(errno));
}

static void t_udmabuf_list_overrun(void)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(PAGE, F_SEAL_SHRINK);

	list_overrun_on_stack(dev, ma);
}

/* The same memfd page listed twice aliases inside the dma-buf. */
static void t_udmabuf_list_alias(void)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(PAGE, F_SEAL_SHRINK);
	struct udmabuf_create_list *l = new_list(2, UDMABUF_FLAGS_CLOEXEC);
	char *pu;
	int b;

	set_item(l, 0, ma, 0, PAGE);
	set_item(l, 1, ma, 0, PAGE);
	b = track(U_ioctl(dev, UDMABUF_CREATE_LIST, l));
	REQUIRE(b >= 0);
	pu = map_shared(b, 2 * PAGE, 0);
	pu[7] = 'x';
	CHECK_EQ(pu[PAGE + 7], 'x');
}

/*
 * Long lists, up to list_limit (1024 items): every page of a 1024-item
 * list of one memfd and of a list of 300 memfds (more than one SCM_RIGHTS
 * message carries) sits where its item put it, for this process and for
 * a fork child, which maps the buffer itself; and an item's error is
 * found in item order past the first 32 items too.
 */
static void t_udmabuf_list_many(void)
{
	enum { N = 1024, DISTINCT = 300 };
	int dev = open_udmabuf_dev(), one = new_memfd((size_t)N * PAGE, F_SEAL_SHRINK);
	int unsealed = new_memfd(PAGE, 0), pw, pr = new_pipe(&pw), m[DISTINCT];
	struct udmabuf_create_list *l = new_list(N, UDMABUF_FLAGS_CLOEXEC);
	char *pm, *pu;
	pid_t pid;
	int b;

	(void)pw;
	/* 1024 items of one memfd, its pages in reverse order */
	for (unsigned i = 0; i < N; i++)
		set_item(l, i, one, (__u64)(N - 1 - i) * PAGE, PAGE);
	b = track(U_ioctl(dev, UDMABUF_CREATE_LIST, l));
	CHECKF(b >= 0, "1024 items of one memfd: %s", errname(errno));
	REQUIRE(b >= 0);
	CHECK_EQ(U_lseek(b, 0, SEEK_END), (off_t)N * PAGE);
	pm = map_shared(one, (size_t)N * PAGE, 0);
	pu = map_shared(b, (size_t)N * PAGE, 0);
	for (unsigned i = 0; i < N; i++)
		pm[(size_t)(N - 1 - i) * PAGE + i % PAGE] = (char)(i % 251 + 1);
	for (unsigned i = 0; i < N; i++)
		if (pu[(size_t)i * PAGE + i % PAGE] != (char)(i % 251 + 1)) {
			CHECKF(0, "page %u of the 1024-item buffer", i);
			break;
		}
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid) {
		char *q = U_mmap(NULL, (size_t)N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);

		if (q == MAP_FAILED)
			_exit(1);
		for (unsigned i = 0; i < N; i++)
			if (q[(size_t)i * PAGE + i % PAGE] != (char)(i % 251 + 1))
				_exit(2);
		q[(size_t)(N - 1) * PAGE + 9] = 'z';	/* the memfd's first page */
		_exit(0);
	}
	CHECK_EQ(wait_child(pid), 0);
	CHECK_EQ(pm[9], 'z');

	/* items of 300 memfds, a page each, plus their second pages again */
	for (unsigned k = 0; k < DISTINCT; k++) {
		m[k] = memfd_create("uapi-conformance", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		REQUIRE(m[k] >= 0);
		REQUIRE(ftruncate(m[k], 2 * PAGE) == 0);
		REQUIRE(U_fcntl(m[k], F_ADD_SEALS, F_SEAL_SHRINK) == 0);
		REQUIRE(pwrite(m[k], &k, sizeof(k), PAGE) == (ssize_t)sizeof(k));
	}
	l->count = 2 * DISTINCT;
	for (unsigned i = 0; i < 2 * DISTINCT; i++)
		set_item(l, i, m[i % DISTINCT], PAGE, PAGE);
	b = track(U_ioctl(dev, UDMABUF_CREATE_LIST, l));
	CHECKF(b >= 0, "items of 300 memfds: %s", errname(errno));
	for (unsigned k = 0; k < DISTINCT; k++)
		U_close(m[k]);	/* the buffer holds their pages */
	REQUIRE(b >= 0);
	/* mapped with only 4 fds free (a mapping takes none on Linux) */
	{
		static int fill[FD_SCAN + 8];
		struct rlimit old, lim;
		int hi = 0, n_fill = 0;

		REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
		for (int fd = 0; fd < fd_scan; fd++)
			if (U_fcntl(fd, F_GETFD) != -1)
				hi = fd;
		lim = old;
		lim.rlim_cur = (rlim_t)hi + 1 + 4;
		REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
		while (n_fill < FD_SCAN && (fill[n_fill] = U_dup(0)) >= 0)
			n_fill++;
		for (int i = 0; i < 4 && n_fill > 0; i++)
			U_close(fill[--n_fill]);
		pu = U_mmap(NULL, (size_t)2 * DISTINCT * PAGE, PROT_READ, MAP_SHARED, b, 0);
		CHECKF(pu != MAP_FAILED, "mmap with 4 fds free: %s", errname(errno));
		if (pu != MAP_FAILED)
			U_munmap(pu, (size_t)2 * DISTINCT * PAGE);
		while (n_fill > 0)
			U_close(fill[--n_fill]);
		REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
	}
	pu = map_shared(b, (size_t)2 * DISTINCT * PAGE, 0);
	for (unsigned i = 0; i < 2 * DISTINCT; i++) {
		unsigned v;

		memcpy(&v, pu + (size_t)i * PAGE, sizeof(v));
		if (v != i % DISTINCT) {
			CHECKF(0, "item %u of the 300-memfd buffer holds %u", i, v);
			break;
		}
	}

	/* errors in item order, past item 32 */
	l->count = 100;
	for (unsigned i = 0; i < 100; i++)
		set_item(l, i, one, (__u64)i * PAGE, PAGE);
	set_item(l, 40, unsealed, 0, PAGE);
	set_item(l, 70, pr, 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	set_item(l, 40, one, 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EBADFD);
	set_item(l, 50, closed_fd(), 0, PAGE);
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EBADFD);
	set_item(l, 50, one, 0, PAGE);
	set_item(l, 70, one, (__u64)N * PAGE, PAGE);	/* past its end */
	CHECK_ERR(U_ioctl(dev, UDMABUF_CREATE_LIST, l), EINVAL);
	set_item(l, 70, one, 0, PAGE);
	CHECK_OK(track(U_ioctl(dev, UDMABUF_CREATE_LIST, l)));
}

static void t_udmabuf_mmap_coherency(void)
{
	int dev = open_udmabuf_dev();
	int mfd = new_memfd(4 * PAGE, F_SEAL_SHRINK);
	int b = try_udmabuf(dev, mfd, PAGE, 2 * PAGE, UDMABUF_FLAGS_CLOEXEC);
	char *pm, *pu, *pu1;
	char c = 'W';

	REQUIRE(b >= 0);
	pm = map_shared(mfd, 4 * PAGE, 0);
	pu = map_shared(b, 2 * PAGE, 0);
	pm[PAGE + 10] = 'm';
	CHECK_EQ(pu[10], 'm');
	pu[PAGE + 20] = 'u';
	CHECK_EQ(pm[2 * PAGE + 20], 'u');
	/* write(2) into the memfd shows through the udmabuf mapping */
	CHECK_EQ(pwrite(mfd, &c, 1, PAGE + 30), 1);
	CHECK_EQ(pu[30], 'W');
	/* page offset into the dma-buf */
	pu1 = map_shared(b, PAGE, PAGE);
	CHECK_EQ(pu1[20], 'u');
	pu1[40] = 'o';
	CHECK_EQ(pm[2 * PAGE + 40], 'o');
	/* mapping limits */
	CHECK_ERR(U_mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, b, 0), EINVAL);
	CHECK_ERR(U_mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, b, PAGE), EINVAL);
	CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, 2 * PAGE), EINVAL);
	CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, b, 0), EINVAL);
	CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, b, 0), EINVAL);
	/* the pages outlive both fds */
	xclose(b);
	xclose(mfd);
	pm[PAGE + 50] = 'z';
	CHECK_EQ(pu[50], 'z');
}

/* udmabuf quirk: SYNC END needs a previous START (it has no sg table yet). */
static void t_udmabuf_sync_end_first(void)
{
	int b = new_dmabuf_kind(KIND_UDMABUF, PAGE);

	CHECK_ERR(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), EINVAL);
	CHECK_ERR(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), EINVAL);
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE), 0);
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
}

/* ================================================================== */
/* dma-heap                                                           */

static void t_heap_alloc_basic(void)
{
	int heap = open_heap();
	int b0 = try_heap(heap, 2 * PAGE, O_RDWR | O_CLOEXEC, 0);
	int b1 = try_heap(heap, 2 * PAGE, O_RDWR, 0);
	int b2 = try_heap(heap, 1, O_RDWR | O_CLOEXEC, 0);
	int b3 = try_heap(heap, PAGE + 1, O_WRONLY | O_CLOEXEC, 0);

	REQUIRE(b0 >= 0 && b1 >= 0 && b2 >= 0 && b3 >= 0);
	CHECK(is_cloexec(b0));
	CHECK(!is_cloexec(b1));
	CHECK_EQ(accmode(b0), O_RDWR);
	CHECK_EQ(accmode(b3), O_WRONLY);
	CHECK_EQ(U_lseek(b0, 0, SEEK_END), 2 * PAGE);
	/* the length is rounded up to pages */
	CHECK_EQ(U_lseek(b2, 0, SEEK_END), PAGE);
	CHECK_EQ(U_lseek(b3, 0, SEEK_END), 2 * PAGE);
	/* the heap device itself is not seekable */
	CHECK_ERR(U_lseek(heap, 0, SEEK_SET), ESPIPE);
}

static void t_heap_alloc_errors(void)
{
	int heap = open_heap();
	struct dma_heap_allocation_data a;
	void *ro;

	CHECK_ERR(try_heap(heap, PAGE, O_RDWR, 1), EINVAL);
	CHECK_ERR(try_heap(heap, PAGE, O_RDWR, 1ull << 63), EINVAL);
	CHECK_ERR(try_heap(heap, PAGE, O_RDWR | O_NONBLOCK, 0), EINVAL);
	CHECK_ERR(try_heap(heap, PAGE, O_RDWR | O_APPEND, 0), EINVAL);
	CHECK_ERR(try_heap(heap, 0, O_RDWR, 0), EINVAL);
	memset(&a, 0, sizeof(a));
	a.len = PAGE;
	a.fd = 5;
	a.fd_flags = O_RDWR;
	CHECK_ERR(U_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a), EINVAL);
	CHECK_ERR(U_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, NULL), EFAULT);
	/* copy-out failure: the buffer and fd are released (fd accounting) */
	a.fd = 0;
	ro = ro_page(&a, sizeof(a));
	CHECK_ERR(U_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, ro), EFAULT);
	/* unknown ioctl numbers are EINVAL on a heap, not ENOTTY */
	CHECK_ERR(U_ioctl(heap, _IOWR('H', 1, struct dma_heap_allocation_data), &a), EINVAL);
	CHECK_ERR(U_ioctl(heap, UDMABUF_CREATE, &a), EINVAL);
	CHECK_ERR(U_ioctl(heap, SYNC_IOC_FILE_INFO, &a), EINVAL);
}

/*
 * ALLOC encoded without the read direction: 0, nothing copied out (Linux
 * leaves the new fd installed, unreachable: closed here if it is there;
 * dmasync makes none).  Whatever else the process holds keeps working:
 * a broker once took the caller's 0 in the fd field for a new fd and
 * closed its own fd 0, the object of whoever sat there.
 */
static void t_heap_alloc_write_only_request(void)
{
	int heap = open_heap(), tl = open_timeline(), f = create_fence(tl, 1);
	int b = new_dmabuf(PAGE), prev = -1;

	for (int i = 0; i < 4; i++) {
		struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };
		int next = U_dup(0);

		REQUIRE(next >= 0);
		U_close(next);
		CHECK_EQ(U_ioctl(heap, _IOW('H', 0, struct dma_heap_allocation_data), &a), 0);
		CHECK_EQ(a.fd, 0);
		if (U_fcntl(next, F_GETFD) >= 0)
			U_close(next);	/* Linux's, out of the program's reach */
		/* made after the last one, kept across this one */
		if (prev >= 0) {
			int e = try_export(prev, DMA_BUF_SYNC_RW);

			CHECKF(e >= 0, "EXPORT from a buffer made before: %s", errname(errno));
			if (e >= 0)
				xclose(e);
			CHECKF(try_import(prev, f, DMA_BUF_SYNC_READ) == 0,
			       "IMPORT into a buffer made before: %s", errname(errno));
			xclose(prev);
		}
		prev = new_dmabuf(PAGE);
	}
	xclose(prev);
	CHECK_EQ(sf_status(f), 0);
	xclose(try_export(b, DMA_BUF_SYNC_READ));
	inc(tl, 1);
	CHECK_EQ(sf_status(f), 1);
}

static void t_heap_mmap(void)
{
	int heap = open_heap();
	int b = try_heap(heap, 2 * PAGE, O_RDWR | O_CLOEXEC, 0);
	int ro = try_heap(heap, PAGE, O_RDONLY | O_CLOEXEC, 0);
	char *p1, *p2;
	void *q;

	REQUIRE(b >= 0 && ro >= 0);
	p1 = map_shared(b, 2 * PAGE, 0);
	p2 = map_shared(b, PAGE, PAGE);
	p1[PAGE + 3] = 'h';
	CHECK_EQ(p2[3], 'h');
	CHECK_EQ(p1[0], 0); /* zeroed */
	CHECK_ERR(U_mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, b, 0), EINVAL);
	CHECK_EQ(accmode(ro), O_RDONLY);
	CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES);
	q = U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(q != MAP_FAILED);
	track_map(q, PAGE);
	/* the system heap has no SYNC END-before-START quirk */
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
}

/* ================================================================== */
/* dma-buf: lseek, names, fdinfo, ioctl decoding, SYNC flags          */

static void t_dmabuf_lseek(void)
{
	for (int k = 0; k < NKINDS; k++) {
		int b;

		if (!kind_ok(k))
			continue;
		b = new_dmabuf_kind(k, 3 * PAGE);
		CHECK_EQ(U_lseek(b, 0, SEEK_END), 3 * PAGE);
		CHECK_EQ(U_lseek(b, 0, SEEK_SET), 0);
		CHECK_EQ(U_lseek(b, 0, SEEK_END), 3 * PAGE);
		CHECK_ERR(U_lseek(b, 0, SEEK_CUR), EINVAL);
		CHECK_ERR(U_lseek(b, 1, SEEK_END), EINVAL);
		CHECK_ERR(U_lseek(b, -1, SEEK_END), EINVAL);
		CHECK_ERR(U_lseek(b, PAGE, SEEK_SET), EINVAL);
		CHECK_ERR(U_lseek(b, 0, SEEK_DATA), EINVAL);
		CHECK_ERR(U_lseek(b, 0, SEEK_HOLE), EINVAL);
	}
}

static void t_dmabuf_set_name(void)
{
	int b = new_dmabuf(PAGE);
	char n31[32], n32[33];
	char *end = page_before_hole();

	memset(n31, 'a', 31);
	n31[31] = 0;
	memset(n32, 'b', 32);
	n32[32] = 0;
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME, "first"), 0);
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_A, "second"), 0);
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, "third"), 0);
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, n31), 0);
	CHECK_ERR(set_name(b, DMA_BUF_SET_NAME_B, n32), EINVAL);
	CHECK_ERR(set_name(b, DMA_BUF_SET_NAME_A, n32), EINVAL);
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, ""), 0);
	CHECK_ERR(set_name(b, DMA_BUF_SET_NAME_B, NULL), EFAULT);
	CHECK_ERR(set_name(b, DMA_BUF_SET_NAME_B, (const char *)8), EFAULT);
	/* unterminated string running into an unreadable page */
	memcpy(end - 3, "abc", 3);
	CHECK_ERR(set_name(b, DMA_BUF_SET_NAME_B, end - 3), EFAULT);
	memcpy(end - 3, "ab", 3);
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, end - 3), 0);
	/* a read-only name is fine */
	CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, ro_page("ro", 3)), 0);
}

/*
 * fstat(), fstatat(AT_EMPTY_PATH) and statx(AT_EMPTY_PATH) of an anonymous
 * inode (a sync_file, a dma-buf) as Linux 6.1 shows it: no file type bits,
 * mode 0600, one link, no device, blocks of 4096.  Checks @size and the
 * owner (-1: not checked) and that the three calls agree.
 */
static void check_anon_stat(int fd, long long size, long long uid, long long gid)
{
	struct stat st, at;
	struct statx sx;

	REQUIRE(fstat(fd, &st) == 0);
	CHECK_EQ(st.st_mode & S_IFMT, 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(st.st_rdev, 0);
	CHECK_EQ(st.st_blksize, 4096);
	CHECK_EQ(st.st_size, size);
	CHECK_EQ(st.st_blocks, size / 512);
	if (uid >= 0)
		CHECK_EQ(st.st_uid, uid);
	if (gid >= 0)
		CHECK_EQ(st.st_gid, gid);
	REQUIRE(fstatat(fd, "", &at, AT_EMPTY_PATH) == 0);
	CHECK_EQ(at.st_mode, st.st_mode);
	CHECK_EQ(at.st_size, st.st_size);
	CHECK_EQ(at.st_ino, st.st_ino);
	CHECK_EQ(at.st_dev, st.st_dev);
	memset(&sx, 0, sizeof(sx));
	REQUIRE(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0);
	CHECK_EQ(sx.stx_mask & STATX_BASIC_STATS, STATX_BASIC_STATS);
	CHECK_EQ(sx.stx_mode, st.st_mode);
	CHECK_EQ(sx.stx_nlink, 1);
	CHECK_EQ(sx.stx_size, size);
	CHECK_EQ(sx.stx_blocks, size / 512);
	CHECK_EQ(sx.stx_blksize, 4096);
	CHECK_EQ(sx.stx_uid, st.st_uid);
	CHECK_EQ(sx.stx_ino, st.st_ino);
	CHECK_EQ(sx.stx_rdev_major, 0);
}

static void t_syncfile_fstat(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1), g = create_fence(tl, 2);

	/* the one anonymous inode every sync_file shares belongs to root */
	check_anon_stat(f, 0, 0, 0);
	inc(tl, 1);
	check_anon_stat(f, 0, 0, 0);
	check_anon_stat(merge(f, g, "m"), 0, 0, 0);
}

static void t_dmabuf_fstat(void)
{
	for (int k = 0; k < NKINDS; k++) {
		int b;

		if (!kind_ok(k))
			continue;
		diag("%s", kind_name[k]);
		/* the buffer's size; its owner is the creator's fs uid/gid */
		b = new_dmabuf_kind(k, 3 * PAGE);
		check_anon_stat(b, 3 * PAGE, geteuid(), getegid());
		CHECK_EQ(U_lseek(b, 0, SEEK_END), 3 * PAGE);
		CHECK_EQ(U_lseek(b, 0, SEEK_SET), 0);
	}
	/* a system-heap buffer is page-rounded: the size shows that */
	if (have_heap) {
		int b = try_heap(open_heap(), 3 * PAGE + 1, O_RDONLY | O_CLOEXEC, 0);

		REQUIRE(b >= 0);
		check_anon_stat(b, 4 * PAGE, geteuid(), getegid());
	}
}

/* The sw_sync timeline and the device nodes are the files their paths
 * name: fstat() of the fd is stat() of the path.  dmasync keeps the fd's
 * own inode ("fstat" row of docs/kernel-compat.md: the one fdinfo shows). */
static void t_device_fstat(void)
{
	static const char *const paths[] = { SW_SYNC_PATH, UDMABUF_PATH, HEAP_PATH };
	static const bool *const have[] = { &have_swsync, &have_udmabuf, &have_heap };

	for (int i = 0; i < 3; i++) {
		struct stat st, ps;
		struct statx sx;
		int fd;

		if (!*have[i])
			continue;
		diag("%s", paths[i]);
		fd = U_open(paths[i], (i == 2 ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		REQUIRE(fd >= 0);
		track(fd);
		REQUIRE(fstat(fd, &st) == 0);
		REQUIRE(stat(paths[i], &ps) == 0);
		CHECK_EQ(st.st_mode & S_IFMT, i ? S_IFCHR : S_IFREG);
		CHECK_EQ(st.st_mode, ps.st_mode);
		CHECK_EQ(st.st_ino == ps.st_ino && st.st_dev == ps.st_dev, KNOWN(false, true));
		CHECK_EQ(st.st_rdev, ps.st_rdev);
		CHECK_EQ(st.st_uid, ps.st_uid);
		CHECK_EQ(st.st_size, 0);
		CHECK_EQ(st.st_nlink, 1);
		memset(&sx, 0, sizeof(sx));
		REQUIRE(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0);
		CHECK_EQ(sx.stx_mode, st.st_mode);
		CHECK_EQ(sx.stx_ino, st.st_ino);
		CHECK_EQ(sx.stx_rdev_major, major(st.st_rdev));
		CHECK_EQ(sx.stx_rdev_minor, minor(st.st_rdev));
	}
}

static void t_device_access(void)
{
	static const char *const paths[] = { SW_SYNC_PATH, UDMABUF_PATH, HEAP_PATH };
	static const bool *const have[] = { &have_swsync, &have_udmabuf, &have_heap };

	for (int i = 0; i < 3; i++) {
		if (!*have[i])
			continue;
		diag("%s", paths[i]);
		CHECK_EQ(access(paths[i], F_OK), 0);
		CHECK_EQ(access(paths[i], R_OK | W_OK), 0);
		/* No execute bit: refused, to root too. */
		CHECK_ERR(access(paths[i], X_OK), EACCES);
		CHECK_ERR(faccessat(AT_FDCWD, paths[i], R_OK | X_OK, AT_EACCESS), EACCES);
		CHECK_ERR(access(paths[i], 8), EINVAL);
		CHECK_ERR(faccessat(AT_FDCWD, paths[i], R_OK, 0x8000), EINVAL);
	}
	if (have_heap) {
		CHECK_EQ(access("/dev/dma_heap", R_OK | X_OK), 0);
		CHECK_EQ(access("/dev/dma_heap/", X_OK), 0);
	}
}

/* @fd's /proc/self/fd link is @want; close it.  False if @fd failed. */
static bool opened_as(int fd, const char *want)
{
	char link[128];

	if (fd < 0)
		return false;
	fd_link(fd, link, sizeof(link));
	CHECK_STR(link, want);
	close(fd);
	return true;
}

static void t_device_path_forms(void)
{
	int dev, kern;
	DIR *d;

	if (have_udmabuf) {
		CHECK(opened_as(open("/dev//udmabuf", O_RDWR | O_CLOEXEC), UDMABUF_PATH));
		CHECK(opened_as(open("/dev/./udmabuf", O_RDWR | O_CLOEXEC), UDMABUF_PATH));
		CHECK_ERR(open("/dev/udmabuf/", O_RDWR | O_CLOEXEC), ENOTDIR);
		CHECK_ERR(open("/dev/udmabuf/.", O_RDWR | O_CLOEXEC), ENOTDIR);
		CHECK_ERR(open("/dev/udmabuf/", O_RDWR | O_CREAT | O_CLOEXEC, 0600), EISDIR);
		CHECK_ERR(open(UDMABUF_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ENOTDIR);
		CHECK_ERR(access("/dev/udmabuf/", F_OK), ENOTDIR);
		{
			struct stat st;

			CHECK_ERR(stat("/dev/udmabuf/", &st), ENOTDIR);
		}
		errno = 0;
		d = opendir(UDMABUF_PATH);
		CHECK(!d && errno == ENOTDIR);
		if (d)
			closedir(d);
		CHECK_ERR(chdir(UDMABUF_PATH), ENOTDIR);
		CHECK(opened_as(open("//dev/udmabuf", O_RDWR | O_CLOEXEC), UDMABUF_PATH));
		CHECK(opened_as(open("/./dev/../dev/udmabuf", O_RDWR | O_CLOEXEC), UDMABUF_PATH));
		CHECK_ERR(open(UDMABUF_PATH, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), EEXIST);
		CHECK_ERR(open(UDMABUF_PATH, O_RDWR | O_DIRECT | O_CLOEXEC), EINVAL);
		{
			char rp[PATH_MAX], *m;
			struct statfs sfs;

			CHECK(realpath("/dev/./udmabuf", rp) && !strcmp(rp, UDMABUF_PATH));
			m = realpath(UDMABUF_PATH, NULL);
			CHECK(m && !strcmp(m, UDMABUF_PATH));
			free(m);
			CHECK_ERR(readlink(UDMABUF_PATH, rp, sizeof(rp)), EINVAL);
			CHECK_EQ(statfs(UDMABUF_PATH, &sfs), 0);
			CHECK_EQ(sfs.f_type, TMPFS_MAGIC);	/* devtmpfs */
		}
	}
	if (have_heap) {
		char rp[PATH_MAX];

		CHECK(realpath(HEAP_PATH, rp) && !strcmp(rp, HEAP_PATH));
		CHECK(realpath("/dev/dma_heap/", rp) && !strcmp(rp, "/dev/dma_heap"));
		CHECK_ERR(open("/dev/dma_heap", O_RDONLY | O_CREAT | O_EXCL, 0700), EEXIST);
		CHECK_ERR(open("/dev/dma_heap", O_RDONLY | O_DIRECTORY | O_CREAT, 0700), EINVAL);
		CHECK(opened_as(open("/dev/dma_heap/../udmabuf", O_RDWR | O_CLOEXEC),
				UDMABUF_PATH) || !have_udmabuf);
		CHECK_ERR(open("/dev/dma_heap/system/", O_RDONLY | O_CLOEXEC), ENOTDIR);
		dev = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		REQUIRE(dev >= 0);
		track(dev);
		CHECK(opened_as(openat(dev, "dma_heap/system", O_RDONLY | O_CLOEXEC), HEAP_PATH));
		CHECK(opened_as(openat(dev, "dma_heap", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
				"/dev/dma_heap"));
		if (have_udmabuf)
			CHECK(opened_as(openat(dev, "udmabuf", O_RDWR | O_CLOEXEC), UDMABUF_PATH));
		{
			struct stat st;

			CHECK_EQ(fstatat(dev, "dma_heap/system", &st, 0), 0);
			CHECK(S_ISCHR(st.st_mode));
		}
		CHECK_EQ(faccessat(dev, "dma_heap/system", R_OK, 0), 0);
		{
			/* scandir() and scandirat() list the heap, a character device */
			struct dirent **names;
			int n = scandir("/dev/dma_heap", &names, NULL, alphasort), system = 0;
			int m;

			CHECK(n >= 3);
			for (int i = 0; i < n; i++) {
				system += !strcmp(names[i]->d_name, "system") &&
					  names[i]->d_type == DT_CHR;
				free(names[i]);
			}
			if (n >= 0)
				free(names);
			CHECK_EQ(system, 1);
			m = scandirat(dev, "dma_heap", &names, NULL, NULL);
			CHECK_EQ(m, n);
			for (int i = 0; i < m; i++)
				free(names[i]);
			if (m >= 0)
				free(names);
		}
		xclose(dev);
	}
	if (have_swsync) {
		kern = open("/sys/kernel", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		REQUIRE(kern >= 0);
		track(kern);
		CHECK(opened_as(openat(kern, "debug/sync/sw_sync", O_RDWR | O_CLOEXEC),
				SW_SYNC_PATH));
		CHECK(opened_as(open("/sys/kernel/debug//sync/./sw_sync", O_RDWR | O_CLOEXEC),
				SW_SYNC_PATH));
		CHECK_ERR(open(SW_SYNC_PATH "/", O_RDWR | O_CLOEXEC), ENOTDIR);
		CHECK_ERR(open(SW_SYNC_PATH, O_RDWR | O_DIRECT | O_CLOEXEC), EINVAL);
		{
			char rp[PATH_MAX];
			struct statfs sfs;

			CHECK(realpath("/sys/kernel/debug//sync/sw_sync", rp) &&
			      !strcmp(rp, SW_SYNC_PATH));
			CHECK_EQ(statfs(SW_SYNC_PATH, &sfs), 0);
			CHECK_EQ(sfs.f_type, DEBUGFS_MAGIC);
		}
		xclose(kern);
	}
}

/* O_PATH of the device paths: a path-only fd (nothing but fstat, its
 * link and reopening through /proc/self/fd works). */
static void t_device_o_path(void)
{
	static const char *const paths[] = { SW_SYNC_PATH, UDMABUF_PATH, HEAP_PATH };
	static const bool *const have[] = { &have_swsync, &have_udmabuf, &have_heap };

	for (int i = 0; i < 3; i++) {
		struct stat st, ps;
		char link[128], proc[40];
		struct pollfd pfd;
		int fd, re;
		char c;

		if (!*have[i])
			continue;
		diag("%s", paths[i]);
		fd = track(open(paths[i], O_PATH | O_CLOEXEC));
		REQUIRE(fd >= 0);
		CHECK_EQ(U_fcntl(fd, F_GETFL) & O_PATH, O_PATH);
		CHECK_ERR(ioctl(fd, DMA_HEAP_IOCTL_ALLOC, &(struct dma_heap_allocation_data){ 0 }),
			  EBADF);
		CHECK_ERR(read(fd, &c, 1), EBADF);
		CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
		      errno == EBADF);
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		CHECK_EQ(poll(&pfd, 1, 0), 1);
		CHECK_EQ(pfd.revents, POLLNVAL);
		REQUIRE(fstat(fd, &st) == 0 && stat(paths[i], &ps) == 0);
		CHECK_EQ(st.st_mode, ps.st_mode);
		CHECK_EQ(st.st_rdev, ps.st_rdev);
		fd_link(fd, link, sizeof(link));
		CHECK_STR(link, paths[i]);
		/* reopened through /proc: the node itself */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		re = track(open(proc, (i == 2 ? O_RDONLY : O_RDWR) | O_CLOEXEC));
		REQUIRE(re >= 0);
		fd_link(re, link, sizeof(link));
		CHECK_STR(link, paths[i]);
		if (i == 0) {
			CHECK(create_fence(re, 1) >= 0);
		} else if (i == 1) {
			CHECK_ERR(U_ioctl(re, DMA_HEAP_IOCTL_ALLOC,
					  &(struct dma_heap_allocation_data){ .len = PAGE }),
				  ENOTTY);
		} else {
			struct dma_heap_allocation_data a = { .len = PAGE,
							      .fd_flags = O_RDWR | O_CLOEXEC };

			CHECK_EQ(U_ioctl(re, DMA_HEAP_IOCTL_ALLOC, &a), 0);
			track((int)a.fd);
		}
	}
}

static void t_dmabuf_fdinfo(void)
{
	for (int k = 0; k < NKINDS; k++) {
		char v[128], link[128];
		int b, d;
		void *p;

		if (!kind_ok(k))
			continue;
		b = new_dmabuf_kind(k, 2 * PAGE);
		fdinfo_field(b, "size", v, sizeof(v));
		CHECK_STR(v, "8192");
		fdinfo_field(b, "exp_name", v, sizeof(v));
		CHECK_STR(v, k == KIND_UDMABUF ? "udmabuf" : "system");
		fdinfo_field(b, "count", v, sizeof(v));
		CHECK_STR(v, "1");
		CHECK(!fdinfo_field(b, "name", v, sizeof(v)));
		fd_link(b, link, sizeof(link));
		CHECK_STR(link, "/dmabuf:");

		CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_B, "buffer-name"), 0);
		CHECK(fdinfo_field(b, "name", v, sizeof(v)));
		CHECK_STR(v, "buffer-name");
		fd_link(b, link, sizeof(link));
		CHECK_STR(link, "/dmabuf:buffer-name");
		CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_A, "renamed"), 0);
		fdinfo_field(b, "name", v, sizeof(v));
		CHECK_STR(v, "renamed");
		CHECK_EQ(set_name(b, DMA_BUF_SET_NAME_A, ""), 0);
		CHECK(fdinfo_field(b, "name", v, sizeof(v)));
		CHECK_STR(v, "");
		fd_link(b, link, sizeof(link));
		CHECK_STR(link, "/dmabuf:");

		/* count = references to the file: dup and mmap add one */
		d = track(U_dup(b));
		fdinfo_field(b, "count", v, sizeof(v));
		CHECK_STR(v, "2");
		p = map_shared(b, PAGE, 0);
		fdinfo_field(d, "count", v, sizeof(v));
		CHECK_STR(v, "3");
		xunmap(p);
		xclose(d);
		fdinfo_field(b, "count", v, sizeof(v));
		CHECK_STR(v, "1");
	}
	if (have_swsync) {
		char link[128];
		int tl = open_timeline();

		fd_link(create_fence(tl, 1), link, sizeof(link));
		CHECK_STR(link, "anon_inode:sync_file");
		inc(tl, 1);
	}
}

static void t_dmabuf_unknown_ioctls(void)
{
	int b = new_dmabuf(PAGE);
	char buf[256];
	__u32 one = 1;

	memset(buf, 0, sizeof(buf));
	CHECK_ERR(U_ioctl(b, _IO('b', 9), 0), ENOTTY);
	CHECK_ERR(U_ioctl(b, _IOW('b', 4, __u32), buf), ENOTTY);
	/* SET_NAME's number with a size that is neither 4 nor 8 */
	CHECK_ERR(U_ioctl(b, _IOW('b', 1, __u16), "x"), ENOTTY);
	CHECK_ERR(U_ioctl(b, SYNC_IOC_MERGE, buf), ENOTTY);
	CHECK_ERR(U_ioctl(b, SYNC_IOC_FILE_INFO, buf), ENOTTY);
	CHECK_ERR(U_ioctl(b, SW_SYNC_IOC_INC, &one), ENOTTY);
	CHECK_ERR(U_ioctl(b, UDMABUF_CREATE, buf), ENOTTY);
	CHECK_ERR(U_ioctl(b, DMA_HEAP_IOCTL_ALLOC, buf), ENOTTY);
	CHECK_ERR(U_ioctl(closed_fd(), DMA_BUF_IOCTL_SYNC, buf), EBADF);
}

static void t_dmabuf_sync_flags(void)
{
	for (int k = 0; k < NKINDS; k++) {
		static const __u64 extra[] = { 8, 8 | DMA_BUF_SYNC_READ, 0x10 | DMA_BUF_SYNC_RW,
					       1ull << 32 | DMA_BUF_SYNC_READ, ~0ull };
		int b;

		if (!kind_ok(k))
			continue;
		b = new_dmabuf_kind(k, PAGE);
		REQUIRE(dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
		for (__u64 f = 0; f < 8; f++) {
			bool valid = (f & DMA_BUF_SYNC_RW) != 0;

			errno = 0;
			if (valid)
				CHECKF(dma_sync(b, f) == 0, "%s SYNC flags %llu: %s",
				       kind_name[k], (unsigned long long)f, errname(errno));
			else
				CHECK_ERR(dma_sync(b, f), EINVAL);
		}
		for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
			CHECK_ERR(dma_sync(b, extra[i]), EINVAL);
		CHECK_ERR(U_ioctl(b, DMA_BUF_IOCTL_SYNC, NULL), EFAULT);
		/* the request only reads its argument */
		{
			struct dma_buf_sync s = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };

			CHECK_EQ(U_ioctl(b, DMA_BUF_IOCTL_SYNC, ro_page(&s, sizeof(s))), 0);
		}
	}
}

/*
 * None of them is a socket: every socket call answers ENOTSOCK (libc's
 * names, as a program calls them; linked programs' dmasync_* wrappers do
 * not cover them, so the case is F_KERNEL).
 */
static void check_not_a_socket(int fd, const char *what)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa);
	struct msghdr mh;
	struct iovec iov;
	char c = 0;
	int v = 0;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &c;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	diag("%s", what);
	CHECK_ERR(shutdown(fd, SHUT_RDWR), ENOTSOCK);
	len = sizeof(v);
	CHECK_ERR(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len), ENOTSOCK);
	CHECK_ERR(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), ENOTSOCK);
	len = sizeof(sa);
	CHECK_ERR(getsockname(fd, (struct sockaddr *)&sa, &len), ENOTSOCK);
	len = sizeof(sa);
	CHECK_ERR(getpeername(fd, (struct sockaddr *)&sa, &len), ENOTSOCK);
	CHECK_ERR(send(fd, &c, 1, MSG_DONTWAIT), ENOTSOCK);
	CHECK_ERR(recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK), ENOTSOCK);
	CHECK_ERR(sendmsg(fd, &mh, MSG_DONTWAIT), ENOTSOCK);
	CHECK_ERR(recvmsg(fd, &mh, MSG_DONTWAIT | MSG_PEEK), ENOTSOCK);
	CHECK_ERR(listen(fd, 1), ENOTSOCK);
	CHECK_ERR(connect(fd, (struct sockaddr *)&sa, sizeof(sa.sun_family)), ENOTSOCK);
}

static void t_socket_calls(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);

	check_not_a_socket(f, "sync_file, pending");
	check_not_a_socket(tl, "sw_sync timeline");
	CHECK_EQ(U_ioctl(tl, SW_SYNC_IOC_INC, &(__u32){ 1 }), 0);
	check_not_a_socket(f, "sync_file, signaled");
	/* nothing was shut down or taken: it still reads as signaled */
	CHECK_EQ(sf_status(f), 1);
	if (have_udmabuf) {
		check_not_a_socket(open_udmabuf_dev(), "/dev/udmabuf");
		check_not_a_socket(new_dmabuf_kind(KIND_UDMABUF, PAGE), "udmabuf");
	}
	if (have_heap) {
		check_not_a_socket(open_heap(), "/dev/dma_heap/system");
		check_not_a_socket(new_dmabuf_kind(KIND_HEAP, PAGE), "heap dma-buf");
	}
}

static void t_dmabuf_read_write(void)
{
	int b = new_dmabuf(PAGE);
	char c = 0;

	CHECK_ERR(U_read(b, &c, 1), EINVAL);
	CHECK_ERR(write(b, &c, 1), EINVAL);
}

/* ================================================================== */
/* DMA_BUF_IOCTL_EXPORT_SYNC_FILE                                     */

static void check_is_stub(int sf, __u64 *ts_out)
{
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];
	char name[32];

	sf_name(sf, name);
	CHECK_STR(name, "stub-stub0-0");
	REQUIRE(file_info(sf, &info, fi) == 1);
	CHECK_EQ(info.status, 1);
	CHECK_EQ(sf_status(sf), 1);
	CHECK_STR(fi[0].obj_name, "stub");
	CHECK_STR(fi[0].driver_name, "stub");
	CHECK_EQ(fi[0].status, 1);
	CHECK_EQ(fi[0].flags, 0);
	CHECK(fi[0].timestamp_ns != 0 && fi[0].timestamp_ns <= (__u64)now_ns());
	CHECK_EQ(revents(sf, POLLIN, 0), POLLIN);
	*ts_out = fi[0].timestamp_ns;
}

static void t_export_flags(void)
{
	int b = new_dmabuf(PAGE);
	static const __u32 extra[] = { 8, 9, 0x10, 0x80000001u, 0xffffffffu };

	for (__u32 f = 0; f < 8; f++) {
		if (f >= 1 && f <= 3) {
			int sf = try_export(b, f);

			CHECKF(sf >= 0, "EXPORT flags %u: %s", f, errname(errno));
		} else {
			CHECK_ERR(try_export(b, f), EINVAL);
		}
	}
	for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		CHECK_ERR(try_export(b, extra[i]), EINVAL);
}

static void t_export_idle_is_stub(void)
{
	for (int k = 0; k < NKINDS; k++) {
		__u64 ts[3];
		int b;

		if (!kind_ok(k))
			continue;
		b = new_dmabuf_kind(k, PAGE);
		for (__u32 f = 1; f <= 3; f++) {
			int sf = export_fence(b, f);

			CHECK(is_cloexec(sf));
			CHECK_EQ(accmode(sf), SYNC_FILE_ACCMODE);
			check_is_stub(sf, &ts[f - 1]);
		}
		/* one global stub: the same timestamp every time */
		CHECK_EQ(ts[0], ts[1]);
		CHECK_EQ(ts[1], ts[2]);
	}
}

static void t_export_one_pending_is_itself(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int f = create_fence(tl, 1);
	char fname[32], name[32];
	int er, ew;

	sf_name(f, fname);
	import_fence(b, f, DMA_BUF_SYNC_WRITE);
	er = export_fence(b, DMA_BUF_SYNC_READ);
	ew = export_fence(b, DMA_BUF_SYNC_RW);
	sf_name(er, name);
	CHECK_STR(name, fname);
	sf_name(ew, name);
	CHECK_STR(name, fname);
	CHECK_EQ(sf_count(er), 1);
	CHECK_STR(sf_fence(er).driver_name, "sw_sync");
	CHECK_EQ(revents(er, POLLIN, 0), 0);
	inc(tl, 1);
	CHECK_EQ(revents(er, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(ew, POLLIN, 0), POLLIN);
	/* signaled fences are left out afterwards */
	{
		__u64 ts;

		check_is_stub(export_fence(b, DMA_BUF_SYNC_RW), &ts);
	}
}

/* READ exports the writers only; WRITE (and RW) export everybody. */
static void t_export_read_gets_writers_only(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), b = new_dmabuf(PAGE);
	int r = create_fence(t1, 1), w = create_fence(t2, 1);
	char rname[32], wname[32], name[32];
	unsigned long long ctx;
	long long seq;
	__u64 ts;

	sf_name(r, rname);
	sf_name(w, wname);
	import_fence(b, r, DMA_BUF_SYNC_READ);
	check_is_stub(export_fence(b, DMA_BUF_SYNC_READ), &ts);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECK_STR(name, rname);
	sf_name(export_fence(b, DMA_BUF_SYNC_RW), name);
	CHECK_STR(name, rname);

	import_fence(b, w, DMA_BUF_SYNC_WRITE);
	sf_name(export_fence(b, DMA_BUF_SYNC_READ), name);
	CHECK_STR(name, wname);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECKF(parse_fence_name(name, "dma_fence_array-unbound", &ctx, &seq) && seq == 1,
	       "name \"%s\"", name);
	CHECK_EQ(sf_count(export_fence(b, DMA_BUF_SYNC_WRITE)), 2);
	inc(t1, 1);
	inc(t2, 1);
}

static void t_export_two_pending_array(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), b = new_dmabuf(PAGE);
	int f1 = create_fence(t1, 1), f2 = create_fence(t2, 1);
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];
	unsigned long long c1, c2;
	long long seq;
	char name[32], f2name[32];
	int e1, e2;
	__u64 ts;

	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	import_fence(b, f2, DMA_BUF_SYNC_WRITE);
	e1 = export_fence(b, DMA_BUF_SYNC_READ);
	e2 = export_fence(b, DMA_BUF_SYNC_WRITE);
	REQUIRE(file_info(e1, &info, fi) == 2);
	CHECKF(parse_fence_name(info.name, "dma_fence_array-unbound", &c1, &seq) && seq == 1,
	       "name \"%s\"", info.name);
	CHECK_EQ(info.status, 0);
	CHECK_STR(fi[0].driver_name, "sw_sync");
	CHECK_STR(fi[1].driver_name, "sw_sync");
	CHECK_STR(fi[0].obj_name, comm);
	sf_name(e2, name);
	CHECKF(parse_fence_name(name, "dma_fence_array-unbound", &c2, &seq) && seq == 1,
	       "name \"%s\"", name);
	CHECK(c1 != c2); /* a fresh context for every array */

	CHECK_EQ(revents(e1, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(e1, POLLIN, 0), 0);
	sf_name(f2, f2name);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECK_STR(name, f2name);
	inc(t2, 1);
	CHECK_EQ(revents(e1, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(e2, POLLIN, 0), POLLIN);
	check_is_stub(export_fence(b, DMA_BUF_SYNC_WRITE), &ts);
}

static void t_export_bad_args(void)
{
	int b = new_dmabuf(PAGE);
	int mfd = new_memfd(PAGE, 0);
	int pw, pr = new_pipe(&pw);
	struct dma_buf_export_sync_file exp = { .flags = DMA_BUF_SYNC_RW, .fd = 999 };
	void *ro;

	(void)pw;
	CHECK_ERR(U_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, NULL), EFAULT);
	CHECK_ERR(U_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, (void *)8), EFAULT);
	/* copy-out failure: no fd is installed (fd accounting) */
	ro = ro_page(&exp, sizeof(exp));
	CHECK_ERR(U_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, ro), EFAULT);
	CHECK_ERR(U_ioctl(mfd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), ENOTTY);
	CHECK_ERR(U_ioctl(pr, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), ENOTTY);
	CHECK_ERR(U_ioctl(closed_fd(), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), EBADF);
	if (have_swsync) {
		int tl = open_timeline();

		CHECK_ERR(U_ioctl(create_fence(tl, 0), DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp),
			  ENOTTY);
		CHECK_ERR(U_ioctl(tl, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp), ENOTTY);
	}
	/* the input fd field is ignored */
	REQUIRE(U_ioctl(b, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp) == 0);
	track(exp.fd);
	CHECK(exp.fd != 999);
	CHECK_EQ(exp.flags, DMA_BUF_SYNC_RW);
}

/* ================================================================== */
/* DMA_BUF_IOCTL_IMPORT_SYNC_FILE                                     */

static void t_import_flags(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int f = create_fence(tl, 1);
	static const __u32 extra[] = { 8, DMA_BUF_SYNC_WRITE | 4, 0x80000001u, 0xffffffffu };

	for (__u32 fl = 0; fl < 8; fl++) {
		if (fl >= 1 && fl <= 3)
			CHECKF(try_import(b, f, fl) == 0, "IMPORT flags %u: %s", fl,
			       errname(errno));
		else
			CHECK_ERR(try_import(b, f, fl), EINVAL);
	}
	for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		CHECK_ERR(try_import(b, f, extra[i]), EINVAL);
	/* flags are checked before the fd */
	CHECK_ERR(try_import(b, -1, 0), EINVAL);
	inc(tl, 1);
}

static void t_import_bad_fds(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE), other = new_dmabuf(PAGE);
	int mfd = new_memfd(PAGE, 0);
	int pw, pr = new_pipe(&pw);
	struct dma_buf_import_sync_file imp;
	void *ro;

	(void)pw;
	for (__u32 fl = 1; fl <= 3; fl++) {
		CHECK_ERR(try_import(b, mfd, fl), EINVAL);
		CHECK_ERR(try_import(b, b, fl), EINVAL);
		CHECK_ERR(try_import(b, other, fl), EINVAL);
		CHECK_ERR(try_import(b, tl, fl), EINVAL);
		CHECK_ERR(try_import(b, pr, fl), EINVAL);
		CHECK_ERR(try_import(b, -1, fl), EINVAL);
		CHECK_ERR(try_import(b, closed_fd(), fl), EINVAL);
	}
	CHECK_ERR(U_ioctl(b, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, NULL), EFAULT);
	/* IMPORT only reads its argument */
	imp.flags = DMA_BUF_SYNC_WRITE;
	imp.fd = create_fence(tl, 0);
	ro = ro_page(&imp, sizeof(imp));
	CHECK_EQ(U_ioctl(b, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, ro), 0);
	/* on something that is not a dma-buf */
	CHECK_ERR(U_ioctl(imp.fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp), ENOTTY);
	CHECK_ERR(U_ioctl(mfd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp), ENOTTY);
	CHECK_ERR(U_ioctl(closed_fd(), DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp), EBADF);
}

static void t_import_signaled(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int f = create_fence(tl, 0);
	__u64 ts;

	import_fence(b, f, DMA_BUF_SYNC_WRITE);
	import_fence(b, f, DMA_BUF_SYNC_READ);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	check_is_stub(export_fence(b, DMA_BUF_SYNC_WRITE), &ts);
}

static void t_import_merged_is_unwrapped(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), b = new_dmabuf(PAGE);
	int m = merge(create_fence(t1, 1), create_fence(t2, 1), "merged-ab");
	struct sync_file_info info;
	struct sync_fence_info fi[MAX_INFO];

	import_fence(b, m, DMA_BUF_SYNC_WRITE);
	REQUIRE(file_info(export_fence(b, DMA_BUF_SYNC_WRITE), &info, fi) == 2);
	CHECK(strcmp(info.name, "merged-ab") != 0);
	CHECK_STR(fi[0].driver_name, "sw_sync");
	CHECK_STR(fi[1].driver_name, "sw_sync");
	CHECK_EQ(revents(b, POLLIN, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(b, POLLIN, 0), 0);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	inc(t2, 1);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
}

/* How imported fences of one timeline combine in the reservation object. */
static void t_import_same_timeline_rules(void)
{
	int tl = open_timeline();
	int f1 = create_fence(tl, 1), f2 = create_fence(tl, 2);
	char n1[32], n2[32], name[32];
	int b;

	sf_name(f1, n1);
	sf_name(f2, n2);

	/* WRITE 1 then WRITE 2: the later replaces the earlier */
	b = new_dmabuf(PAGE);
	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	import_fence(b, f2, DMA_BUF_SYNC_WRITE);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECK_STR(name, n2);

	/* WRITE 2 then WRITE 1: the earlier one is added, not merged */
	b = new_dmabuf(PAGE);
	import_fence(b, f2, DMA_BUF_SYNC_WRITE);
	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	CHECK_EQ(sf_count(export_fence(b, DMA_BUF_SYNC_WRITE)), 2);

	/* READ 1 then WRITE 2: the write replaces the read */
	b = new_dmabuf(PAGE);
	import_fence(b, f1, DMA_BUF_SYNC_READ);
	import_fence(b, f2, DMA_BUF_SYNC_WRITE);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECK_STR(name, n2);
	sf_name(export_fence(b, DMA_BUF_SYNC_READ), name);
	CHECK_STR(name, n2);

	/* WRITE 1 then READ 2: both kept, READ export sees only the writer */
	b = new_dmabuf(PAGE);
	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	import_fence(b, f2, DMA_BUF_SYNC_READ);
	sf_name(export_fence(b, DMA_BUF_SYNC_READ), name);
	CHECK_STR(name, n1);
	CHECK_EQ(sf_count(export_fence(b, DMA_BUF_SYNC_WRITE)), 2);

	/* the same fence twice: once */
	b = new_dmabuf(PAGE);
	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	import_fence(b, f1, DMA_BUF_SYNC_WRITE);
	import_fence(b, f1, DMA_BUF_SYNC_RW);
	sf_name(export_fence(b, DMA_BUF_SYNC_WRITE), name);
	CHECK_STR(name, n1);
	inc(tl, 2);
}

/* ================================================================== */
/* poll() on a dma-buf                                                */

static void t_dmabuf_poll_idle(void)
{
	for (int k = 0; k < NKINDS; k++) {
		struct pollfd p;
		int b;

		if (!kind_ok(k))
			continue;
		b = new_dmabuf_kind(k, PAGE);
		CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
		CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT | POLLPRI | POLLRDNORM, 0),
			 POLLIN | POLLOUT);
		CHECK_EQ(revents(b, POLLPRI, 0), 0);
		p.fd = b;
		p.events = 0;
		p.revents = -1;
		CHECK_EQ(U_poll(&p, 1, 0), 0);
		CHECK_EQ(p.revents, 0);
	}
}

static void t_dmabuf_poll_pending_write(void)
{
	for (int k = 0; k < NKINDS; k++) {
		int tl, b;

		if (!kind_ok(k))
			continue;
		tl = open_timeline();
		b = new_dmabuf_kind(k, PAGE);
		import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
		CHECK_EQ(revents(b, POLLIN, 0), 0);
		CHECK_EQ(revents(b, POLLOUT, 0), 0);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), 0);
		CHECK_EQ(revents(b, POLLIN, 0), 0);
		inc(tl, 1);
		CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
		CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	}
}

/*
 * A poll array longer than 4096 entries (as long as the fd limit allows;
 * most of them -1): the buffer in it still reports its implicit-sync
 * state, both kinds, with a sync file beside it.  Also past the limit:
 * EINVAL.
 */
static void t_dmabuf_poll_long_array(void)
{
	enum { N = 5000 };
	struct rlimit lim;
	struct pollfd *p;

	/* exactly as many entries as the fd limit allows (the kernel's
	 * bound): an emulation that adds entries of its own must fit them */
	REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
	lim.rlim_cur = N;
	if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < N)
		lim.rlim_max = N;	/* may be raised with CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &lim))
		SKIP("RLIMIT_NOFILE cannot be set to %d", N);
	p = calloc(N, sizeof(*p));
	REQUIRE(p);
	for (int k = 0; k < NKINDS; k++) {
		int tl, b, f;

		if (!kind_ok(k))
			continue;
		tl = open_timeline();
		b = new_dmabuf_kind(k, PAGE);
		f = create_fence(tl, 1);
		import_fence(b, f, DMA_BUF_SYNC_WRITE);
		for (int i = 0; i < N; i++)
			p[i].fd = -1;
		p[N - 2].fd = f;
		p[N - 2].events = POLLIN;
		p[N - 1].fd = b;
		p[N - 1].events = POLLIN | POLLOUT;
		CHECK_EQ(U_poll(p, N, 0), 0);
		CHECK_EQ(p[N - 1].revents, 0);
		inc(tl, 1);
		CHECK_EQ(U_poll(p, N, 1000), 2);
		CHECK_EQ(p[N - 2].revents, POLLIN);
		CHECK_EQ(p[N - 1].revents, POLLIN | POLLOUT);
	}
	lim.rlim_cur = N - 1;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	CHECK_ERR(U_poll(p, N, 0), EINVAL);
	free(p);
}

static void t_dmabuf_poll_pending_read(void)
{
	for (int k = 0; k < NKINDS; k++) {
		int tl, b;

		if (!kind_ok(k))
			continue;
		tl = open_timeline();
		b = new_dmabuf_kind(k, PAGE);
		import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_READ);
		CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
		CHECK_EQ(revents(b, POLLOUT, 0), 0);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN);
		CHECK_EQ(revents(b, POLLOUT, 0), 0);
		inc(tl, 1);
		CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
		CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	}
}

static void t_dmabuf_poll_blocking_thread(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	struct delayed *d;
	int64_t t0;
	int r;

	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	d = delayed_inc_start(tl, DELAY_MS);
	t0 = now_ns();
	r = revents(b, POLLIN, BLOCK_MS);
	delayed_inc_join(d);
	CHECK_EQ(r, POLLIN);
	CHECKF(ms_since(t0) >= MIN_WAIT_MS, "woke after %lld ms", (long long)ms_since(t0));
}

static void t_dmabuf_poll_blocking_child(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int64_t t0;
	pid_t pid;
	int r;

	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_READ);
	t0 = now_ns();
	pid = fork_inc(tl, DELAY_MS);
	r = revents(b, POLLOUT, BLOCK_MS);
	CHECK_EQ(wait_child(pid), 0);
	CHECK_EQ(r, POLLOUT);
	CHECKF(ms_since(t0) >= MIN_WAIT_MS, "woke after %lld ms", (long long)ms_since(t0));
}

/* With two writers, a blocking poll returns only when both are done. */
static void t_dmabuf_poll_two_writers(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), b = new_dmabuf(PAGE);
	struct delayed *d1, *d2;
	int64_t t0;
	int r;

	import_fence(b, create_fence(t1, 1), DMA_BUF_SYNC_WRITE);
	import_fence(b, create_fence(t2, 1), DMA_BUF_SYNC_WRITE);
	d1 = delayed_inc_start(t1, 50);
	d2 = delayed_inc_start(t2, 250);
	t0 = now_ns();
	r = revents(b, POLLIN, BLOCK_MS);
	delayed_inc_join(d1);
	delayed_inc_join(d2);
	CHECK_EQ(r, POLLIN);
	CHECKF(ms_since(t0) >= 200, "woke after %lld ms", (long long)ms_since(t0));
}

static void t_dmabuf_poll_merged_import(void)
{
	int t1 = open_timeline(), t2 = open_timeline(), b = new_dmabuf(PAGE);
	int m = merge(create_fence(t1, 1), create_fence(t2, 1), "m");

	import_fence(b, m, DMA_BUF_SYNC_READ);
	CHECK_EQ(revents(b, POLLIN, 0), POLLIN);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	inc(t2, 1);
	CHECK_EQ(revents(b, POLLOUT, 0), 0);
	inc(t1, 1);
	CHECK_EQ(revents(b, POLLOUT, 0), POLLOUT);
}

static void t_dmabuf_ppoll(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	struct pollfd p[2];
	struct timespec ts = { 0, 50 * 1000000 };
	int64_t t0;

	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	p[0].fd = b;
	p[0].events = POLLIN;
	p[1].fd = b;
	p[1].events = POLLOUT;
	t0 = now_ns();
	CHECK_EQ(U_ppoll(p, 2, &ts, NULL), 0);
	CHECK(ms_since(t0) >= 40);
	inc(tl, 1);
	CHECK_EQ(U_ppoll(p, 2, &ts, NULL), 2);
	CHECK_EQ(p[0].revents, POLLIN);
	CHECK_EQ(p[1].revents, POLLOUT);
}

/* poll() is never restarted; the SYNC ioctl is restarted with SA_RESTART. */
static void t_signals_interrupt_waits(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int f = create_fence(tl, 1);
	struct pollfd p = { .fd = b, .events = POLLIN };
	struct sigaction old;
	struct delayed *d;
	int64_t t0;
	int r, e;

	import_fence(b, f, DMA_BUF_SYNC_WRITE);

	arm_alarm(50, false, &old);
	r = U_poll(&p, 1, BLOCK_MS);
	e = errno;
	disarm_alarm(&old);
	CHECKF(r == -1 && e == EINTR, "dma-buf poll: %d/%s", r, errname(e));

	arm_alarm(50, true, &old);
	p.fd = f;
	r = U_poll(&p, 1, BLOCK_MS);
	e = errno;
	disarm_alarm(&old);
	CHECKF(r == -1 && e == EINTR, "sync_file poll with SA_RESTART: %d/%s", r, errname(e));

	arm_alarm(50, false, &old);
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	e = errno;
	disarm_alarm(&old);
	CHECKF(r == -1 && e == EINTR, "SYNC START: %d/%s", r, errname(e));

	/* with SA_RESTART the ioctl resumes and returns when the fence signals */
	arm_alarm(50, true, &old);
	d = delayed_inc_start(tl, 250);
	t0 = now_ns();
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	e = errno;
	delayed_inc_join(d);
	disarm_alarm(&old);
	CHECKF(r == 0, "SYNC START with SA_RESTART: %d/%s", r, errname(e));
	CHECK_EQ(alarm_hits, 1);
	CHECKF(ms_since(t0) >= 200, "returned after %lld ms", (long long)ms_since(t0));
}

/* ================================================================== */
/* epoll                                                              */

#define EP_TAG 0x0123456789abcdefull

/* One fd of each kind, -1 where the backend lacks it. */
enum {
	EK_SYNC_FILE, EK_TIMELINE, EK_UDMABUF, EK_HEAP_BUF, EK_UDMABUF_DEV, EK_HEAP_DEV, EVERY_KIND
};
static const char *const every_kind_name[EVERY_KIND] = {
	"sync_file", "timeline", "udmabuf", "heap buffer", "/dev/udmabuf", "/dev/dma_heap/system"
};

/* The heap device opened O_RDWR. */
static void open_every_kind(int fds[EVERY_KIND])
{
	for (int i = 0; i < EVERY_KIND; i++)
		fds[i] = -1;
	if (have_swsync) {
		fds[EK_TIMELINE] = open_timeline();
		fds[EK_SYNC_FILE] = create_fence(fds[EK_TIMELINE], 1);
	}
	for (int k = 0; k < NKINDS; k++)
		if (kind_ok(k))
			fds[EK_UDMABUF + k] = new_dmabuf_kind(k, PAGE);
	if (have_udmabuf)
		fds[EK_UDMABUF_DEV] = open_udmabuf_dev();
	if (have_heap)
		fds[EK_HEAP_DEV] = track(U_open(HEAP_PATH, O_RDWR | O_CLOEXEC));
}

/*
 * The requests the VFS answers for every file (FIOCLEX, FIONCLEX, FIONBIO,
 * FIOASYNC, FIGETBSZ, FIOQSIZE, FIONREAD) on each kind of fd: they act on
 * the fd before any driver sees them (event loops such as libuv set
 * O_NONBLOCK and FD_CLOEXEC this way).
 */
static void t_vfs_ioctls(void)
{
	int fds[EVERY_KIND];

	open_every_kind(fds);
	for (int i = 0; i < EVERY_KIND; i++) {
		int fd = fds[i], v, fl;
		loff_t q = -1;

		if (fd < 0)
			continue;
		diag("%s", every_kind_name[i]);
		CHECK_EQ(U_ioctl(fd, FIONCLEX), 0);
		CHECK_EQ(U_fcntl(fd, F_GETFD), 0);
		CHECK_EQ(U_ioctl(fd, FIOCLEX), 0);
		CHECK_EQ(U_fcntl(fd, F_GETFD), FD_CLOEXEC);
		v = 1;
		CHECK_EQ(U_ioctl(fd, FIONBIO, &v), 0);
		fl = U_fcntl(fd, F_GETFL);
		CHECK(fl >= 0 && (fl & O_NONBLOCK));
		v = 0;
		CHECK_EQ(U_ioctl(fd, FIONBIO, &v), 0);
		fl = U_fcntl(fd, F_GETFL);
		/* a linked program's libc F_GETFL shows a sync file's socket */
		CHECK(fl >= 0);
		CHECK_EQ(fl & O_NONBLOCK, i == EK_SYNC_FILE ? WRAPPER_KNOWN(O_NONBLOCK, 0) : 0);
		CHECK_ERR(U_ioctl(fd, FIONBIO, (void *)8), EFAULT);
		v = 0;
		CHECK_EQ(U_ioctl(fd, FIOASYNC, &v), 0);
		v = 1;
		CHECK_ERR(U_ioctl(fd, FIOASYNC, &v), ENOTTY);	/* no fasync method */
		v = 0;
		CHECK_EQ(U_ioctl(fd, FIGETBSZ, &v), 0);
		CHECK_EQ(v, 4096);
		if (i == EK_TIMELINE) {
			/* a debugfs file: a regular one, of size 0 */
			CHECK_EQ(U_ioctl(fd, FIOQSIZE, &q), 0);
			CHECK_EQ(q, 0);
			v = -1;
			CHECK_EQ(U_ioctl(fd, FIONREAD, &v), 0);
			CHECK_EQ(v, 0);
		} else {
			CHECK_ERR(U_ioctl(fd, FIOQSIZE, &q), ENOTTY);
			/* the driver's: ENOTTY, or EINVAL from the heap's */
			CHECK_ERR(U_ioctl(fd, FIONREAD, &v), i == EK_HEAP_DEV ? EINVAL : ENOTTY);
		}
		/* FIDEDUPERANGE: the request copied in (EFAULT, ENOMEM past a
		 * page), its reserved fields, then a regular file that can
		 * remap: none of these (a timeline, debugfs's, cannot) */
		{
			union {
				struct file_dedupe_range r;
				char b[64];
			} d;

			memset(&d, 0, sizeof(d));
			CHECK_ERR(U_ioctl(fd, FIDEDUPERANGE, &d), i == EK_TIMELINE ? EOPNOTSUPP : EINVAL);
			d.r.reserved2 = 1;
			CHECK_ERR(U_ioctl(fd, FIDEDUPERANGE, &d), EINVAL);
			d.r.reserved2 = 0;
			d.r.dest_count = 300;
			CHECK_ERR(U_ioctl(fd, FIDEDUPERANGE, &d), ENOMEM);
			CHECK_ERR(U_ioctl(fd, FIDEDUPERANGE, (void *)8), EFAULT);
		}
	}
	/* a file opened for writing only cannot be the source */
	{
		union {
			struct file_dedupe_range r;
			char b[64];
		} d;
		int w = track(U_open(SW_SYNC_PATH, O_WRONLY | O_CLOEXEC));

		memset(&d, 0, sizeof(d));
		if (w >= 0)
			CHECK_ERR(U_ioctl(w, FIDEDUPERANGE, &d), EINVAL);
	}
}

/*
 * The vector and positioned read and write calls on each kind: none has
 * read or write (EINVAL), a sync file is read-only (writes EBADF), and
 * sync files and dma-bufs (anon files) have no positions (ESPIPE first).
 */
static void t_rw_calls(void)
{
	int fds[EVERY_KIND];
	char b[8] = { 0 };
	struct iovec iov = { b, sizeof(b) };

	open_every_kind(fds);
	for (int i = 0; i < EVERY_KIND; i++) {
		/* anon files, and the heap device (nonseekable_open()): no positions */
		int fd = fds[i], anon = i != EK_TIMELINE && i != EK_UDMABUF_DEV;

		if (fd < 0)
			continue;
		diag("%s", every_kind_name[i]);
		CHECK_ERR(readv(fd, &iov, 1), EINVAL);
		CHECK_ERR(writev(fd, &iov, 1), i == EK_SYNC_FILE ? EBADF : EINVAL);
		CHECK_ERR(write(fd, b, 1), i == EK_SYNC_FILE ? EBADF : EINVAL);
		CHECK_ERR(pread(fd, b, 1, 0), anon ? ESPIPE : EINVAL);
		CHECK_ERR(pwrite(fd, b, 1, 0), anon ? ESPIPE : EINVAL);
		CHECK_ERR(preadv(fd, &iov, 1, 0), anon ? ESPIPE : EINVAL);
		CHECK_ERR(pwritev(fd, &iov, 1, 0), anon ? ESPIPE : EINVAL);
		CHECK_ERR(preadv2(fd, &iov, 1, -1, 0), EINVAL);
		/* in-kernel copies from and to it */
		{
			int p[2], src = memfd_create("src", MFD_CLOEXEC);

			REQUIRE(src >= 0 && pipe2(p, O_CLOEXEC) == 0);
			REQUIRE(write(src, "x", 1) == 1 && write(p[1], "y", 1) == 1);
			CHECK_ERR(sendfile(fd, src, &(off_t){ 0 }, 1), i == EK_SYNC_FILE ? EBADF : EINVAL);
			CHECK_ERR(sendfile(p[1], fd, NULL, 1), EINVAL);
			CHECK_ERR(splice(fd, NULL, p[1], NULL, 1, SPLICE_F_NONBLOCK), EINVAL);
			CHECK_ERR(splice(p[0], NULL, fd, NULL, 1, SPLICE_F_NONBLOCK),
				  i == EK_SYNC_FILE ? EBADF : EINVAL);
			close(p[0]);
			close(p[1]);
			close(src);
		}
	}
	/* A pending sync file made blocking still answers at once. */
	if (fds[EK_SYNC_FILE] >= 0) {
		CHECK_EQ(U_fcntl(fds[EK_SYNC_FILE], F_SETFL, 0), 0);
		CHECK_ERR(readv(fds[EK_SYNC_FILE], &iov, 1), EINVAL);
	}
}

/*
 * The same calls with odd arguments, per kind: Linux checks a negative
 * position before the file (EINVAL), reads a vector from the caller before
 * the file's mode (EFAULT, EINVAL for a count over UIO_MAXIOV or a length
 * over SSIZE_MAX), answers a splice or tee of nothing with 0 whatever the
 * files, a pipe end given an offset with ESPIPE, and a sendfile() from a
 * file without positions given an offset with ESPIPE.
 */
static void t_rw_calls_odd_arguments(void)
{
	int fds[EVERY_KIND];
	char b[8] = { 0 };
	struct iovec iov = { b, sizeof(b) }, huge = { b, (size_t)SSIZE_MAX + 1 };
	struct iovec kern = { (void *)0xffff800000000000ul, sizeof(b) };
	static struct iovec many[1025];
	struct iovec *volatile nil = NULL;	/* hidden from the compiler's checks */
	volatile int neg = -1;

	for (int i = 0; i < 1025; i++)
		many[i] = iov;
	open_every_kind(fds);
	for (int i = 0; i < EVERY_KIND; i++) {
		int fd = fds[i], anon = i != EK_TIMELINE && i != EK_UDMABUF_DEV;
		int ro = i == EK_SYNC_FILE, p[2];
		loff_t off = 0;

		if (fd < 0)
			continue;
		diag("%s", every_kind_name[i]);
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		REQUIRE(write(p[1], "y", 1) == 1);
		CHECK_ERR(pread(fd, b, 1, -1), EINVAL);
		CHECK_ERR(pwrite(fd, b, 1, -1), EINVAL);
		CHECK_ERR(preadv(fd, &iov, 1, -1), EINVAL);
		CHECK_ERR(pwritev(fd, &iov, 1, -5), EINVAL);
		CHECK_ERR(preadv2(fd, &iov, 1, -2, 0), EINVAL);
		CHECK_ERR(pwritev2(fd, &iov, 1, -2, 0), EINVAL);
		CHECK_ERR(readv(fd, nil, 1), EFAULT);
		CHECK_ERR(writev(fd, nil, 1), EFAULT);
		CHECK_ERR(readv(fd, many, 1025), EINVAL);
		CHECK_ERR(writev(fd, &iov, neg), EINVAL);
		CHECK_ERR(readv(fd, &huge, 1), EINVAL);
		CHECK_ERR(readv(fd, &kern, 1), EFAULT);
		CHECK_ERR(readv(fd, nil, 0), EINVAL);
		CHECK_ERR(writev(fd, nil, 0), ro ? EBADF : EINVAL);
		CHECK_ERR(preadv(fd, nil, 1, 0), anon ? ESPIPE : EFAULT);
		CHECK_ERR(preadv2(fd, nil, 1, -1, 0), EFAULT);
		/* nothing to copy: 0, before the flags and the files */
		CHECK_EQ(splice(fd, NULL, p[1], NULL, 0, 0), 0);
		CHECK_EQ(splice(p[0], NULL, fd, NULL, 0, 0), 0);
		CHECK_EQ(splice(fd, NULL, p[1], NULL, 0, ~0u), 0);
		CHECK_EQ(tee(fd, p[1], 0, 0), 0);
		CHECK_EQ(tee(p[0], fd, 0, 0), 0);
		CHECK_ERR(tee(fd, p[1], 0, ~0u), EINVAL);	/* tee: the flags first */
		CHECK_ERR(splice(fd, NULL, p[1], NULL, 1, ~0u), EINVAL);
		/* a pipe end with an offset; the file's without positions */
		CHECK_ERR(splice(fd, NULL, p[1], &off, 1, SPLICE_F_NONBLOCK), ESPIPE);
		CHECK_ERR(splice(p[0], &off, fd, NULL, 1, SPLICE_F_NONBLOCK), ESPIPE);
		CHECK_ERR(splice(fd, &off, p[1], NULL, 1, SPLICE_F_NONBLOCK), EINVAL);
		CHECK_ERR(splice(p[0], NULL, fd, &off, 1, SPLICE_F_NONBLOCK), ro ? EBADF : EINVAL);
		CHECK_ERR(sendfile(p[1], fd, &(off_t){ 0 }, 1), anon ? ESPIPE : EINVAL);
		CHECK_ERR(sendfile(p[1], fd, &(off_t){ -1 }, 1), anon ? ESPIPE : EINVAL);
		CHECK_ERR(sendfile(p[1], fd, (off_t *)8, 1), EFAULT);
		CHECK_ERR(sendfile(fd, p[0], &(off_t){ 0 }, 1), ESPIPE);
		CHECK_ERR(sendfile(fd, p[0], NULL, 1), ro ? EBADF : EINVAL);
		/* statx's attribute bits: the generic ones, and for a device
		 * node those of the file system under /dev (tmpfs's three) */
		{
			struct statx stx, null;

			memset(&stx, 0, sizeof(stx));
			REQUIRE(statx(AT_FDCWD, "/dev/null", 0, STATX_BASIC_STATS, &null) == 0);
			CHECK_EQ(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), 0);
			CHECK_EQ(stx.stx_attributes, 0);
			if (i == EK_UDMABUF_DEV || i == EK_HEAP_DEV)
				CHECK_EQ(stx.stx_attributes_mask, null.stx_attributes_mask);
			else
				CHECK_EQ(stx.stx_attributes_mask, STATX_ATTR_AUTOMOUNT |
					 STATX_ATTR_MOUNT_ROOT | STATX_ATTR_DAX);
		}
		close(p[0]);
		close(p[1]);
	}
	/* EPOLLEXCLUSIVE takes only IN, OUT, ERR, HUP, WAKEUP and ET beside it */
	for (int i = 0; i < EVERY_KIND; i++) {
		static const uint32_t extra[] = { EPOLLRDHUP, EPOLLRDNORM, EPOLLPRI, EPOLLONESHOT };
		int ep, fd = fds[i];

		if (fd < 0 || (i != EK_SYNC_FILE && i != EK_UDMABUF && i != EK_HEAP_BUF))
			continue;
		ep = track(epoll_create1(EPOLL_CLOEXEC));
		REQUIRE(ep >= 0);
		for (unsigned int e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE | extra[e] };

			CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), EINVAL);
		}
		xclose(ep);
	}
	/* mremap(MREMAP_DONTUNMAP) of a buffer's mapping: not for PFN maps
	 * (the heap) nor udmabuf's (6.1) */
	for (int i = EK_UDMABUF; i <= EK_HEAP_BUF; i++) {
		void *m, *n;

		if (fds[i] < 0)
			continue;
		m = U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		REQUIRE(m != MAP_FAILED);
		CHECK_ERR(n = mremap(m, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP), EINVAL);
		if (n != MAP_FAILED)
			munmap(n, PAGE);
		((volatile char *)m)[0] = 1;	/* still mapped */
		munmap(m, PAGE);
	}
}

/*
 * The calls on a file's data and attributes, per kind: Linux's sync files
 * and dma-bufs are anon files (no type bits), the devices character
 * devices, the timeline a debugfs regular file, so truncating, allocating,
 * syncing, copying, sealing, leasing and extended attributes answer as
 * those do, and never touch what dmasync makes the fd of.  A sync file is
 * opened read-only (locks for writing, allocation, seals: EBADF/EPERM).
 */
static void t_file_calls(void)
{
	int fds[EVERY_KIND];
	char buf[64];

	open_every_kind(fds);
	for (int i = 0; i < EVERY_KIND; i++) {
		int fd = fds[i], tl = i == EK_TIMELINE, ro = i == EK_SYNC_FILE;
		int m = track(memfd_create("other", MFD_CLOEXEC)), p[2];
		struct flock wr = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		struct flock rd = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

		if (fd < 0)
			continue;
		diag("%s", every_kind_name[i]);
		REQUIRE(m >= 0 && ftruncate(m, PAGE) == 0 && pipe2(p, O_CLOEXEC) == 0);
		REQUIRE(write(p[1], "y", 1) == 1);
		if (tl) {
			CHECK_EQ(ftruncate(fd, 0), 0);
			CHECK_EQ(ftruncate(fd, 2 * PAGE), 0);
		} else {
			CHECK_ERR(ftruncate(fd, 0), EINVAL);
			CHECK_ERR(ftruncate(fd, 2 * PAGE), EINVAL);
		}
		CHECK_ERR(ftruncate(fd, -1), EINVAL);
		CHECK_ERR(fallocate(fd, 0, 0, PAGE), ro ? EBADF : tl ? EOPNOTSUPP : ENODEV);
		CHECK_ERR(fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, PAGE),
			  ro ? EBADF : tl ? EOPNOTSUPP : ENODEV);
		CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE), EOPNOTSUPP);
		CHECK_ERR(fallocate(fd, 0, -1, PAGE), EINVAL);
		CHECK_EQ(posix_fallocate(fd, 0, PAGE), ro ? EBADF : tl ? EINVAL : ENODEV);
		CHECK_ERR(fsync(fd), EINVAL);
		CHECK_ERR(fdatasync(fd), EINVAL);
		if (tl)
			CHECK_EQ(sync_file_range(fd, 0, 0, 0), 0);
		else
			CHECK_ERR(sync_file_range(fd, 0, 0, 0), ESPIPE);
		CHECK_ERR(sync_file_range(fd, -1, 0, 0), EINVAL);
		if (tl)
			CHECK_EQ(readahead(fd, 0, PAGE), 0);
		else
			CHECK_ERR(readahead(fd, 0, PAGE), EINVAL);
		CHECK_ERR(copy_file_range(fd, NULL, m, NULL, 1, 0), tl ? EXDEV : EINVAL);
		CHECK_ERR(copy_file_range(m, &(loff_t){ 0 }, fd, NULL, 1, 0), tl ? EXDEV : EINVAL);
		CHECK_ERR(tee(fd, p[1], 1, SPLICE_F_NONBLOCK), EINVAL);
		CHECK_ERR(tee(p[0], fd, 1, SPLICE_F_NONBLOCK), ro ? EBADF : EINVAL);
		/* locks: a file's own, of the types its mode allows */
		CHECK_EQ(U_fcntl(fd, F_SETLK, &rd), 0);
		if (ro)
			CHECK_ERR(U_fcntl(fd, F_SETLK, &wr), EBADF);
		else
			CHECK_EQ(U_fcntl(fd, F_SETLK, &wr), 0);
		rd.l_type = F_UNLCK;
		CHECK_EQ(U_fcntl(fd, F_SETLK, &rd), 0);
		if (ro) {
			CHECK_ERR(U_fcntl(fd, F_OFD_SETLK, &wr), EBADF);
		} else {
			CHECK_EQ(U_fcntl(fd, F_OFD_SETLK, &wr), 0);
			wr.l_type = F_UNLCK;
			CHECK_EQ(U_fcntl(fd, F_OFD_SETLK, &wr), 0);
		}
		/* seals are shmem's; leases regular files' */
		CHECK_ERR(U_fcntl(fd, F_GET_SEALS), EINVAL);
		CHECK_ERR(U_fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), ro ? EPERM : EINVAL);
		CHECK_EQ(U_fcntl(fd, F_GETLEASE), F_UNLCK);
		CHECK_ERR(U_fcntl(fd, F_SETLEASE, F_RDLCK), tl ? EAGAIN : EINVAL);
		CHECK_ERR(U_fcntl(fd, F_GETPIPE_SZ), EBADF);
		/* extended attributes: none listed, none taken */
		CHECK_EQ(flistxattr(fd, buf, sizeof(buf)), 0);
		CHECK_ERR(fgetxattr(fd, "system.sockprotoname", buf, sizeof(buf)), EOPNOTSUPP);
		CHECK_ERR(fgetxattr(fd, "user.x", buf, sizeof(buf)), tl ? EOPNOTSUPP : ENODATA);
		CHECK_ERR(fsetxattr(fd, "user.x", "1", 1, 0), tl ? EOPNOTSUPP : EPERM);
		CHECK_ERR(fremovexattr(fd, "user.x"), tl ? EOPNOTSUPP : EPERM);
		CHECK_ERR(fgetxattr(fd, "", buf, sizeof(buf)), ERANGE);
		/* the VFS's requests for file systems */
		CHECK_ERR(U_ioctl(fd, FICLONE, m), EXDEV);
		CHECK_ERR(U_ioctl(fd, FS_IOC_FIEMAP, buf), EOPNOTSUPP);
		if (geteuid() == 0)
			CHECK_ERR(U_ioctl(fd, FIFREEZE, 0), EOPNOTSUPP);
		/* its mappings: no fsync (MS_SYNC); a heap buffer's pages are
		 * PFNs, which a mapping cannot grow into (a udmabuf's can) */
		if (i == EK_UDMABUF || i == EK_HEAP_BUF) {
			void *a = U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), *g;
			size_t len = PAGE;

			REQUIRE(a != MAP_FAILED);
			CHECK_ERR(msync(a, PAGE, MS_SYNC), EINVAL);
			CHECK_EQ(msync(a, PAGE, MS_ASYNC), 0);
			{
				struct iovec v = { a, 1 };

				if (i == EK_HEAP_BUF)
					CHECK_ERR(vmsplice(p[1], &v, 1, SPLICE_F_NONBLOCK), EFAULT);
				else
					CHECK_EQ(vmsplice(p[1], &v, 1, SPLICE_F_NONBLOCK), 1);
			}
			errno = 0;
			g = mremap(a, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
			if (i == EK_HEAP_BUF) {
				CHECKF(g == MAP_FAILED && errno == EFAULT, "mremap growth: %s",
				       g == MAP_FAILED ? errname(errno) : "grown");
			} else {
				CHECKF(g != MAP_FAILED, "mremap growth: %s", errname(errno));
			}
			if (g != MAP_FAILED) {
				a = g;
				len = 2 * PAGE;
			}
			/* moved (into a hole of our own), still the buffer's */
			{
				char *hole = mmap(NULL, 4 * PAGE, PROT_NONE,
						  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

				REQUIRE(hole != MAP_FAILED);
				g = mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, hole + PAGE);
				CHECKF(g == hole + PAGE, "mremap move: %s", errname(errno));
				if (g != MAP_FAILED) {
					a = g;
					CHECK_ERR(msync(a, PAGE, MS_SYNC), EINVAL);
				}
				U_munmap(a, len);
				munmap(hole, 4 * PAGE);
			}
			/* an ordinary memfd mapped where the buffer was: fsync */
			a = U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			REQUIRE(a != MAP_FAILED);
			U_munmap(a, PAGE);
			REQUIRE(ftruncate(m, PAGE) == 0);
			g = mmap(a, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, m, 0);
			REQUIRE(g == a);
			CHECK_EQ(msync(g, PAGE, MS_SYNC), 0);
			munmap(g, PAGE);
		}
		close(p[0]);
		close(p[1]);
		xclose(m);
	}
	/* A heap buffer (its memfd under dmasync) is still whole. */
	if (fds[EK_HEAP_BUF] >= 0) {
		void *a = U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fds[EK_HEAP_BUF], 0);

		CHECK_EQ(U_lseek(fds[EK_HEAP_BUF], 0, SEEK_END), PAGE);
		CHECK(a != MAP_FAILED);
		if (a != MAP_FAILED)
			U_munmap(a, PAGE);
	}
}

/*
 * A device or the sw_sync file keeps the access mode it was opened with
 * (F_GETFL; read, write, locks and allocation check it first), and the
 * requests still work in every mode; O_APPEND and O_NONBLOCK given to open()
 * show too; a sync file shows the O_NONBLOCK the program sets.
 */
static void t_open_modes(void)
{
	static const char *const path[] = { UDMABUF_PATH, HEAP_PATH, SW_SYNC_PATH };
	const bool have[] = { have_udmabuf, have_heap, have_swsync };
	static const int mode[] = { O_RDONLY, O_WRONLY, O_RDWR };

	for (int d = 0; d < 3; d++) {
		if (!have[d])
			continue;
		for (int j = 0; j < 3; j++) {
			int fd = track(U_open(path[d], mode[j] | O_CLOEXEC)), fl, r;
			bool can_rd = mode[j] != O_WRONLY, can_wr = mode[j] != O_RDONLY;
			struct flock wr = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			char c;

			diag("%s mode %d", path[d], mode[j]);
			REQUIRE(fd >= 0);
			fl = U_fcntl(fd, F_GETFL);
			CHECK_EQ(fl & O_ACCMODE, mode[j]);
			CHECK_EQ(fl & 0100000, 0100000);	/* O_LARGEFILE */
			CHECK_ERR(write(fd, "x", 1), can_wr ? EINVAL : EBADF);
			CHECK_ERR(read(fd, &c, 1), can_rd ? EINVAL : EBADF);
			if (can_wr)
				CHECK_EQ(U_fcntl(fd, F_SETLK, &wr), 0);
			else
				CHECK_ERR(U_fcntl(fd, F_SETLK, &wr), EBADF);
			if (d != 2)
				CHECK_ERR(fallocate(fd, 0, 0, PAGE), can_wr ? ENODEV : EBADF);
			if (d == 0) {
				int mfd = new_memfd(PAGE, F_SEAL_SHRINK);
				struct udmabuf_create cr = { .memfd = mfd, .flags = UDMABUF_FLAGS_CLOEXEC,
							     .size = PAGE };

				r = U_ioctl(fd, UDMABUF_CREATE, &cr);
				CHECKF(r >= 0, "UDMABUF_CREATE: %s", errname(errno));
				if (r >= 0)
					xclose(track(r));
				xclose(mfd);
			} else if (d == 1) {
				struct dma_heap_allocation_data a = { .len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC };

				r = U_ioctl(fd, DMA_HEAP_IOCTL_ALLOC, &a);
				CHECKF(r == 0, "ALLOC: %s", errname(errno));
				if (r == 0)
					xclose(track((int)a.fd));
			} else {
				int f = create_fence(fd, 1);

				xclose(f);
			}
			/* dup()s and fork()s share the open file: the mode too */
			{
				int d2 = track(U_dup(fd));

				CHECK_EQ(U_fcntl(d2, F_GETFL) & O_ACCMODE, mode[j]);
				xclose(d2);
			}
			xclose(fd);
		}
	}
	/* open()'s file flags stay in the file */
	for (int d = 0; d < 3; d++) {
		int fd;

		if (!have[d])
			continue;
		fd = track(U_open(path[d], O_RDWR | O_APPEND | O_NONBLOCK | O_CLOEXEC));
		REQUIRE(fd >= 0);
		CHECK_EQ(U_fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK),
			 O_RDWR | O_APPEND | O_NONBLOCK);
		CHECK_EQ(U_fcntl(fd, F_SETFL, 0), 0);
		CHECK_EQ(U_fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDWR);
		xclose(fd);
	}
	if (have_swsync) {
		int tl = open_timeline(), f = create_fence(tl, 1);

		CHECK_EQ(U_fcntl(f, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY);
		CHECK_EQ(U_fcntl(f, F_SETFL, O_NONBLOCK), 0);
		CHECK_EQ(U_fcntl(f, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY | O_NONBLOCK);
		CHECK_EQ(U_fcntl(f, F_SETFL, 0), 0);
		CHECK_EQ(U_fcntl(f, F_GETFL) & O_NONBLOCK, 0);
		xclose(f);
		xclose(tl);
	}
}

static volatile sig_atomic_t sigios;

static void on_sigio(int s)
{
	(void)s;
	sigios++;
}

/*
 * fstatfs() names the file system each kind lives on; F_GETFL shows
 * O_LARGEFILE where open() put it (devices, sw_sync) and not on dma-bufs
 * (anon files); O_ASYNC is ignored (no fasync method: no SIGIO).
 */
static void t_fd_fs_flags(void)
{
	static const long fs[EVERY_KIND] = { ANON_INODE_FS_MAGIC, DEBUGFS_MAGIC, DMA_BUF_MAGIC,
					     DMA_BUF_MAGIC, TMPFS_MAGIC, TMPFS_MAGIC };
	int fds[EVERY_KIND], sf;
	struct sigaction sa = { .sa_handler = on_sigio }, old;

	open_every_kind(fds);
	for (int i = 0; i < EVERY_KIND; i++) {
		struct statfs sfs;
		int fl;

		if (fds[i] < 0)
			continue;
		diag("%s", every_kind_name[i]);
		REQUIRE(fstatfs(fds[i], &sfs) == 0);
		CHECK_EQ(sfs.f_type, fs[i]);
		fl = U_fcntl(fds[i], F_GETFL);
		CHECK_EQ(fl & 0100000, i == EK_TIMELINE || i >= EK_UDMABUF_DEV ? 0100000 : 0);	/* O_LARGEFILE */
	}
	if (!have_swsync)
		return;
	sigaction(SIGIO, &sa, &old);
	sigios = 0;
	sf = fds[EK_SYNC_FILE];
	CHECK_EQ(U_fcntl(sf, F_SETOWN, getpid()), 0);
	CHECK_EQ(U_fcntl(sf, F_SETFL, U_fcntl(sf, F_GETFL) | O_ASYNC), 0);
	CHECK_EQ(U_fcntl(sf, F_GETFL) & O_ASYNC, 0);
	inc(fds[EK_TIMELINE], 1);
	CHECK_EQ(revents(sf, POLLIN, BLOCK_MS), POLLIN);
	usleep(20000);
	CHECK_EQ(sigios, 0);
	sigaction(SIGIO, &old, NULL);
}

/* A registration goes with the last close of the file: a set that held
 * only a closed dma-buf reports nothing, at once. */
static void t_epoll_dmabuf_closed(void)
{
	int ep = track(epoll_create1(EPOLL_CLOEXEC));

	REQUIRE(ep >= 0);
	for (int k = 0; k < NKINDS; k++) {
		for (int i = 0; i < 10; i++) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u64 = EP_TAG },
					   out[4];
			int b;

			if (!kind_ok(k))
				break;
			b = new_dmabuf_kind(k, PAGE);
			REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
			CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
			xclose(b);
			CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 0);
		}
	}
}

/*
 * A registration belongs to the file, not the number: closing the number
 * it was made under while a dup keeps the file open leaves it reporting
 * (under the closed number's data), the file's last close ends it; a new
 * epoll set at a closed set's number starts empty; EPOLLEXCLUSIVE is
 * refused with MOD before the set is looked at.
 */
static void t_epoll_dmabuf_file_not_number(void)
{
	for (int k = 0; k < NKINDS; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EP_TAG }, out[4];
		int ep, b, d, ep2;

		if (!kind_ok(k))
			continue;
		ep = track(epoll_create1(EPOLL_CLOEXEC));
		b = new_dmabuf_kind(k, PAGE);
		REQUIRE(ep >= 0 && U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
		d = track(U_dup(b));
		REQUIRE(d >= 0);
		xclose(b);
		CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
		CHECK_EQ(out[0].data.u64, EP_TAG);
		CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL), ENOENT);	/* not its number */
		xclose(d);
		CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 0);

		/* a set closed with a registration in it; a new one at its number */
		b = new_dmabuf_kind(k, PAGE);
		REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
		xclose(ep);
		ep2 = track(epoll_create1(EPOLL_CLOEXEC));
		REQUIRE(ep2 >= 0);
		CHECK_EQ(U_epoll_ctl(ep2, EPOLL_CTL_MOD, b, &ev), -1);
		CHECK_EQ(U_epoll_ctl(ep2, EPOLL_CTL_ADD, b, &ev), 0);
		CHECK_ERR(U_epoll_ctl(ep2, EPOLL_CTL_ADD, b, &ev), EEXIST);
		CHECK_EQ(U_epoll_wait(ep2, out, 4, 0), 1);
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		CHECK_ERR(U_epoll_ctl(ep2, EPOLL_CTL_MOD, b, &ev), EINVAL);
		CHECK_EQ(U_epoll_ctl(ep2, EPOLL_CTL_DEL, b, NULL), 0);
		CHECK_ERR(U_epoll_ctl(ep2, EPOLL_CTL_MOD, b, &ev), EINVAL);	/* before ENOENT */
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLEXCLUSIVE;
		CHECK_ERR(U_epoll_ctl(ep2, EPOLL_CTL_ADD, b, &ev), EINVAL);
		xclose(b);
		xclose(ep2);
	}
}

/*
 * Edge-triggered on a dma-buf: its poll op wakes its own wait queue
 * whenever it finds a direction ready, so each epoll_wait() reports the
 * buffer again while it stays ready, as level-triggered does; a pending
 * fence stops the direction it blocks, and its signal brings it back.
 */
static void t_epoll_dmabuf_edge_triggered(void)
{
	for (int k = 0; k < NKINDS; k++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u64 = EP_TAG },
				   out[4];
		int ep, b, tl, f;

		if (!kind_ok(k))
			continue;
		ep = track(epoll_create1(EPOLL_CLOEXEC));
		b = new_dmabuf_kind(k, PAGE);
		tl = open_timeline();
		f = create_fence(tl, 1);
		REQUIRE(ep >= 0 && U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
		for (int i = 0; i < 3; i++) {
			CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
			CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
		}
		import_fence(b, f, DMA_BUF_SYNC_READ);	/* writers wait for it */
		for (int i = 0; i < 2; i++) {
			CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
			CHECK_EQ(out[0].events, EPOLLIN);
		}
		inc(tl, 1);
		CHECK_EQ(U_epoll_wait(ep, out, 4, BLOCK_MS), 1);
		CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
		CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
		xclose(f);
		xclose(tl);
		xclose(b);
		xclose(ep);
	}
}

/* Closed by dup2(), dup3(), close_range() or fclose() rather than
 * close(): a timeline's pending points signal -ENOENT before it returns. */
static void t_swsync_close_routes(void)
{
	static const char *const route[] = { "dup2", "dup3", "close_range", "fclose" };

	for (int r = 0; r < 4; r++) {
		diag("%s", route[r]);
		for (int i = 0; i < 10; i++) {
			int tl = open_timeline(), f = create_fence(tl, 1), nul = -1;

			untrack(tl);
			if (r == 0 || r == 1) {
				nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
				REQUIRE(nul >= 0);
				REQUIRE((r ? dup3(nul, tl, O_CLOEXEC) : dup2(nul, tl)) == tl);
				close(tl);
				close(nul);
			} else if (r == 2) {
				REQUIRE(close_range((unsigned int)tl, (unsigned int)tl, 0) == 0);
			} else {
				FILE *fp = fdopen(tl, "r");

				REQUIRE(fp);
				REQUIRE(fclose(fp) == 0);
			}
			CHECK_EQ(revents(f, POLLIN, 0), POLLIN);
			CHECK_EQ(sf_status(f), -ENOENT);
			xclose(f);
		}
	}
}

/*
 * A buffer whose only fence is a writer's, polled for POLLIN|POLLOUT by
 * other processes (poll(), epoll_wait()): when the fence signals, the
 * waiters wake with POLLOUT, never POLLIN alone (every fence POLLIN waits
 * for, POLLOUT waits for too).  Linux 6.1 arms POLLOUT's callback first,
 * so a waiter that looks again between the two callbacks of the one
 * signal sees POLLOUT alone (seen in the kernel VM under load: 1 in 200);
 * dmasync reports both.  Looped: the wake-up meets the change at any step.
 */
static void t_dma_buf_poll_both_from_child(void)
{
	enum { ROUNDS = 100, KIDS = 4 };
	int bad[2] = { 0, 0 };

	for (int round = 0; round < ROUNDS; round++) {
		int tl = open_timeline(), f = create_fence(tl, 1), buf = new_dmabuf(PAGE), p[2];
		pid_t pid[KIDS];
		char c[KIDS];

		import_fence(buf, f, DMA_BUF_SYNC_WRITE);
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		fflush(stdout);
		for (int k = 0; k < KIDS; k++) {
			pid[k] = fork();
			REQUIRE(pid[k] >= 0);
			if (!pid[k]) {
				int got = -1;

				(void)!write(p[1], "", 1);
				if (k & 1) {
					int ep = epoll_create1(EPOLL_CLOEXEC);
					struct epoll_event e = { .events = EPOLLIN | EPOLLOUT,
								 .data.u64 = 7 };

					if (ep < 0 || U_epoll_ctl(ep, EPOLL_CTL_ADD, buf, &e))
						_exit(2);
					if (U_epoll_wait(ep, &e, 1, 5000) == 1 && e.data.u64 == 7)
						got = (int)e.events;
				} else {
					struct pollfd pf = { .fd = buf, .events = POLLIN | POLLOUT };

					if (U_poll(&pf, 1, 5000) == 1)
						got = pf.revents;
				}
				_exit(got < 0 ? 3 : (got & POLLOUT) && !(got & ~(POLLIN | POLLOUT)) ? 0 : 4);
			}
		}
		REQUIRE(read(p[0], c, KIDS) >= 1);
		sleep_ms(1);
		inc(tl, 1);
		for (int k = 0; k < KIDS; k++)
			bad[k & 1] += wait_child(pid[k]) != 0;
		close(p[0]);
		close(p[1]);
		xclose(buf);
		xclose(f);
		xclose(tl);
	}
	CHECKF(bad[0] == 0, "poll: %d of %d wake-ups without POLLOUT", bad[0], ROUNDS * KIDS / 2);
	CHECKF(bad[1] == 0, "epoll: %d of %d wake-ups without EPOLLOUT", bad[1], ROUNDS * KIDS / 2);
}

/* vfork() and leave, after putting /dev/null at @at (if >= 0) and closing
 * every fd from 3 up, as Python's subprocess does before its exec. */
static pid_t __attribute__((noinline)) vfork_closer(int nul, int at)
{
	pid_t pid = vfork();

	if (pid == 0) {
		if (at >= 0)
			dup2(nul, at);
		close_range(3, ~0u, 0);
		_exit(0);
	}
	return pid;
}

/*
 * vfork() children that close the parent's objects (their copies) before
 * they leave: in the parent, the buffer's epoll registration and poll, the
 * pending point and the timeline's last close are as they were.
 */
static void t_vfork_child_closes(void)
{
	int tl = open_timeline(), f = create_fence(tl, 1), b = new_dmabuf(PAGE), g;
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	int nul = track(open("/dev/null", O_RDONLY | O_CLOEXEC));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u64 = EP_TAG }, out[2];

	REQUIRE(ep >= 0 && nul >= 0);
	import_fence(b, f, DMA_BUF_SYNC_WRITE);
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	fflush(stdout);
	for (int i = 0; i < 50; i++) {
		pid_t pid = vfork_closer(nul, (i & 1) ? b : -1);

		REQUIRE(pid > 0);
		CHECK_EQ(wait_child(pid), 0);
	}
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), 0);
	CHECK_EQ(sf_status(f), 0);
	inc(tl, 1);
	CHECK_EQ(U_epoll_wait(ep, out, 2, BLOCK_MS), 1);
	CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	CHECK_EQ(sf_status(f), 1);
	CHECK_EQ(U_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL), 0);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	g = create_fence(tl, 2);
	untrack(tl);
	CHECK_EQ(U_close(tl), 0);
	CHECK_EQ(sf_status(g), -ENOENT);
}

/* This program, for an exec of itself (main(): argv[0]; valgrind's
 * /proc/self/exe is valgrind's tool). */
static char self_path[PATH_MAX] = "/proc/self/exe";

/* vfork() a child that closes every fd from 3 up (@close_all), sleeps
 * @ms, then execs this program, which leaves at once (@exec: not true(1),
 * which a sanitized build's preload library cannot be loaded into), or
 * leaves. */
static pid_t __attribute__((noinline)) vfork_sleeper(int ms, bool exec, bool close_all)
{
	pid_t pid = vfork();

	if (pid == 0) {
		struct timespec ts = { 0, ms * 1000000L };

		if (close_all)
			close_range(3, ~0u, 0);
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		if (exec)
			execl(self_path, "conformance", "--exit", (char *)NULL);
		/* _exit() itself: a sanitizer's would report the parent's threads */
		syscall(SYS_exit_group, exec ? 127 : 3);
	}
	return pid;
}

/* A vfork() parent resumes once its child has exec'ed or exited, not
 * before, also when the child closed every fd first. */
static void t_vfork_parent_waits(void)
{
#if defined(__SANITIZE_THREAD__)
	SKIP("ThreadSanitizer's vfork() is a fork()");
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	SKIP("ThreadSanitizer's vfork() is a fork()");
#endif
#endif
	fflush(stdout);
	for (int i = 0; i < 8; i++) {
		int64_t t0 = now_ns();
		pid_t pid = vfork_sleeper(30, i & 1, i & 2);
		int64_t took = now_ns() - t0;

		REQUIRE(pid > 0);
		CHECKF(took >= 30 * 1000000LL, "vfork() returned after %lld us, child slept 30 ms",
		       (long long)(took / 1000));
		CHECK_EQ(wait_child(pid), (i & 1) ? 0 : 3);
	}
}

/* Fork children that sleep 20 s (killed before), until told to stop (at most 64). */
struct forker {
	pid_t kids[64];
	int n, stop, done;
};

static void *forker_run(void *arg)
{
	struct forker *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE) && f->n < 64) {
		pid_t pid = fork();

		if (pid == 0) {
			struct timespec ts = { 20, 0 };

			nanosleep(&ts, NULL);
			syscall(SYS_exit_group, 0);
		}
		if (pid > 0)
			f->kids[f->n++] = pid;
		sleep_ms(1);
	}
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * vfork()s while another thread forks long-lived children: no vfork()
 * waits for those (their fork copied the whole fd table, whatever a
 * vfork() in progress had open).  One that did would wait ~20 s, the
 * child's life; a loaded machine (valgrind, 64 children) takes a second
 * or two.
 */
static void t_vfork_beside_fork(void)
{
	struct forker f = { .n = 0 };
	int64_t worst = 0;
	pthread_t th;

	fflush(stdout);
	REQUIRE(pthread_create(&th, NULL, forker_run, &f) == 0);
	/* every fork of the other thread's beside one of ours */
	for (int i = 0; i < 200 || !__atomic_load_n(&f.done, __ATOMIC_ACQUIRE); i++) {
		int64_t t0 = now_ns(), took;
		pid_t pid = vfork_sleeper(0, false, false);

		took = now_ns() - t0;
		if (took > worst)
			worst = took;
		REQUIRE(pid > 0);
		CHECK_EQ(wait_child(pid), 3);
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	for (int i = 0; i < f.n; i++) {
		kill(f.kids[i], SIGKILL);
		waitpid(f.kids[i], NULL, 0);
	}
	CHECKF(worst < 10000 * 1000000LL, "a vfork() took %lld ms beside %d forks",
	       (long long)(worst / 1000000), f.n);
}

static void t_epoll_dmabuf(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE), br = new_dmabuf(PAGE);
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev, out[4];

	REQUIRE(ep >= 0);
	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	import_fence(br, create_fence(tl, 1), DMA_BUF_SYNC_READ);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	ev.events = EPOLLOUT;
	ev.data.u64 = ~EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, br, &ev) == 0);
	CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev), EEXIST);
	CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 0);
	inc(tl, 1);
	REQUIRE(U_epoll_wait(ep, out, 4, BLOCK_MS) == 2);
	for (int i = 0; i < 2; i++) {
		if (out[i].data.u64 == EP_TAG)
			CHECK_EQ(out[i].events, EPOLLIN);
		else
			CHECKF(out[i].data.u64 == ~EP_TAG && out[i].events == EPOLLOUT,
			       "event 0x%x data 0x%llx", out[i].events,
			       (unsigned long long)out[i].data.u64);
	}
	/* level-triggered: still ready */
	CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 2);
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
	REQUIRE(U_epoll_wait(ep, out, 4, 0) == 1);
	CHECK_EQ(out[0].data.u64, ~EP_TAG);
}

static void t_epoll_dmabuf_blocking(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev, out[2];
	struct delayed *d;
	int64_t t0;
	int n;

	REQUIRE(ep >= 0);
	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.u64 = EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	d = delayed_inc_start(tl, DELAY_MS);
	t0 = now_ns();
	n = U_epoll_wait(ep, out, 2, BLOCK_MS);
	delayed_inc_join(d);
	REQUIRE(n == 1);
	CHECK_EQ(out[0].events, EPOLLOUT);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	CHECK(ms_since(t0) >= MIN_WAIT_MS);
}

static void t_epoll_sync_file(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1), done = create_fence(tl, 0);
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	int et = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev, out[4];
	struct delayed *d;

	REQUIRE(ep >= 0 && et >= 0);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) == 0);
	ev.events = EPOLLIN | EPOLLET;
	REQUIRE(U_epoll_ctl(et, EPOLL_CTL_ADD, f, &ev) == 0);
	CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 0);
	CHECK_EQ(U_epoll_wait(et, out, 4, 0), 0);

	d = delayed_inc_start(tl, DELAY_MS);
	REQUIRE(U_epoll_wait(ep, out, 4, BLOCK_MS) == 1);
	delayed_inc_join(d);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	/* sticky while level-triggered, once when edge-triggered */
	CHECK_EQ(U_epoll_wait(ep, out, 4, 0), 1);
	CHECK_EQ(U_epoll_wait(et, out, 4, 0), 1);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	CHECK_EQ(U_epoll_wait(et, out, 4, 0), 0);

	/* an already signaled sync_file is ready at once; EPOLLOUT never is */
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = 42;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, done, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 4, 0) == 2);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(out[i].events, EPOLLIN);
	CHECK(out[0].data.u64 == 42 || out[1].data.u64 == 42);
}

/*
 * What epoll reports is the file's poll op, whatever else was asked: a
 * sync_file EPOLLIN alone, once signaled; a dma-buf EPOLLIN and EPOLLOUT.
 * Never the socket bits (RDNORM, WRNORM, RDHUP, ...) of what dmasync's fds
 * are underneath.
 */
#define EP_ALL (EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI | EPOLLOUT | EPOLLWRNORM | \
		EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP)

static void t_epoll_sync_file_events(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev, out[2];

	REQUIRE(ep >= 0);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDNORM | EPOLLOUT;
	ev.data.u64 = EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) == 0);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	inc(tl, 1);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	/* every event bit asked for: still EPOLLIN alone */
	ev.events = EP_ALL;
	ev.data.u64 = ~EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_MOD, f, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, ~EP_TAG);
	/* the write side alone: never ready */
	ev.events = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_MOD, f, &ev) == 0);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	/* flags are kept: edge-triggered reports once */
	ev.events = EP_ALL | EPOLLET;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_MOD, f, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_DEL, f, NULL) == 0);
	/* one-shot: reports once, then nothing until re-armed */
	ev.events = EP_ALL | EPOLLONESHOT;
	ev.data.u64 = 7;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	CHECK_EQ(out[0].data.u64, 7);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
}

/* Files with no poll method (a timeline, the device nodes): EPERM, for
 * every op, once both fds are good. */
static void t_epoll_no_poll_method(void)
{
	int tl = open_timeline(), ep = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EP_TAG };

	REQUIRE(ep >= 0);
	CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_ADD, tl, &ev), EPERM);
	CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_MOD, tl, &ev), EPERM);
	CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_DEL, tl, NULL), EPERM);
	CHECK_ERR(U_epoll_ctl(-1, EPOLL_CTL_ADD, tl, &ev), EBADF);
	if (have_udmabuf) {
		int dev = open_udmabuf_dev();

		CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_ADD, dev, &ev), EPERM);
	}
	if (have_heap) {
		int heap = open_heap();

		CHECK_ERR(U_epoll_ctl(ep, EPOLL_CTL_ADD, heap, &ev), EPERM);
	}
	CHECK_EQ(U_epoll_wait(ep, &ev, 1, 0), 0);
}

static void t_epoll_dmabuf_events(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int ep = track(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev, out[2];

	REQUIRE(ep >= 0);
	memset(&ev, 0, sizeof(ev));
	ev.events = EP_ALL;
	ev.data.u64 = EP_TAG;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
	CHECK_EQ(out[0].data.u64, EP_TAG);
	/* a reader pending: writable no more, readable still */
	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_READ);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN);
	inc(tl, 1);
	ev.events = EPOLLRDNORM | EPOLLWRNORM | EPOLLRDHUP | EPOLLPRI;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_MOD, b, &ev) == 0);
	CHECK_EQ(U_epoll_wait(ep, out, 2, 0), 0);
	ev.events = EP_ALL;
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_MOD, b, &ev) == 0);
	REQUIRE(U_epoll_wait(ep, out, 2, 0) == 1);
	CHECK_EQ(out[0].events, EPOLLIN | EPOLLOUT);
	REQUIRE(U_epoll_ctl(ep, EPOLL_CTL_DEL, b, NULL) == 0);
}

/* ================================================================== */
/* DMA_BUF_IOCTL_SYNC waits for the implicit fences                   */

static void t_dmabuf_sync_start_waits(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	struct delayed *d;
	int64_t t0;
	int r;

	/* START|READ waits for writers */
	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	d = delayed_inc_start(tl, DELAY_MS);
	t0 = now_ns();
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	delayed_inc_join(d);
	CHECK_EQ(r, 0);
	CHECKF(ms_since(t0) >= MIN_WAIT_MS, "returned after %lld ms", (long long)ms_since(t0));
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 0);

	/* START|READ does not wait for readers ... */
	import_fence(b, create_fence(tl, 2), DMA_BUF_SYNC_READ);
	d = delayed_inc_start(tl, 400);
	t0 = now_ns();
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	CHECK_EQ(r, 0);
	CHECKF(ms_since(t0) < 300, "START|READ took %lld ms", (long long)ms_since(t0));
	/* ... but START|WRITE does */
	r = dma_sync(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	delayed_inc_join(d);
	CHECK_EQ(r, 0);
	CHECKF(ms_since(t0) >= 350, "START|WRITE returned after %lld ms",
	       (long long)ms_since(t0));
	/* END never waits */
	import_fence(b, create_fence(tl, 3), DMA_BUF_SYNC_WRITE);
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
	inc(tl, 1);
}

/* ================================================================== */
/* fd exhaustion                                                      */

/*
 * With RLIMIT_NOFILE exhausted: which requests fail with EMFILE, and which
 * argument checks come before the fd reservation.
 */
static void t_fds_exhausted(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	int b = (have_udmabuf || have_heap) ? new_dmabuf(PAGE) : -1;
	int dev = have_udmabuf ? open_udmabuf_dev() : -1;
	int mfd = have_udmabuf ? new_memfd(PAGE, F_SEAL_SHRINK) : -1;
	int heap = have_heap ? open_heap() : -1;
	struct rlimit old, lim;
	struct sw_sync_create_fence_data d;
	int hi = 0;

	REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
	for (int fd = 0; fd < fd_scan; fd++)
		if (U_fcntl(fd, F_GETFD) != -1)
			hi = fd;
	lim = old;
	lim.rlim_cur = (rlim_t)hi + 1;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	/* fill every hole below the limit */
	for (;;) {
		int fd = U_dup(0);

		if (fd < 0)
			break;
		track(fd);
	}

	memset(&d, 0, sizeof(d));
	d.value = 2;
	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d), EMFILE);
	CHECK_ERR(U_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, NULL), EMFILE); /* fd first */
	CHECK_ERR(try_merge(f, f, "m", 0, 0), EMFILE);
	CHECK_ERR(try_merge(f, f, "m", 1, 0), EMFILE); /* fd before flags */
	CHECK_ERR(try_merge(f, -1, "m", 0, 0), EMFILE);
	CHECK_ERR(U_open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC), EMFILE);
	CHECK_EQ(sf_count(f), 1);
	if (b >= 0) {
		CHECK_ERR(try_export(b, DMA_BUF_SYNC_RW), EMFILE);
		CHECK_ERR(try_export(b, 0), EINVAL); /* flags before fd */
		CHECK_EQ(try_import(b, f, DMA_BUF_SYNC_WRITE), 0);
	}
	if (dev >= 0) {
		CHECK_ERR(try_udmabuf(dev, mfd, 0, PAGE, 0), EMFILE);
		CHECK_ERR(try_udmabuf(dev, mfd, 0, 0, 0), EINVAL); /* checks first */
	}
	if (heap >= 0) {
		CHECK_ERR(try_heap(heap, PAGE, O_RDWR, 0), EMFILE);
		CHECK_ERR(try_heap(heap, 0, O_RDWR, 0), EINVAL);
	}
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	inc(tl, 1);
}

/* ================================================================== */
/* Cross-process                                                      */

/* Child: wait (blocking poll) until @fd is readable; exit status 0 if it
 * first was not readable, then became readable. */
static void child_wait_readable(int fd, int notify_fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int code = 0;

	if (U_poll(&p, 1, 0) != 0)
		code |= 2;
	if (notify_fd >= 0 && write(notify_fd, "r", 1) != 1)
		code |= 4;
	if (U_poll(&p, 1, BLOCK_MS) != 1 || p.revents != POLLIN)
		code |= 8;
	_exit(code);
}

static void t_xproc_fork_inherit(void)
{
	int tl = open_timeline();
	int f = create_fence(tl, 1);
	int nw, nr = new_pipe(&nw);
	pid_t pid;
	char c;

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		child_wait_readable(f, nw);
	CHECK_EQ(read(nr, &c, 1), 1);
	sleep_ms(DELAY_MS);
	inc(tl, 1);
	CHECK_EQ(wait_child(pid), 0);
}

static void t_xproc_dmabuf_inherit(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int nw, nr = new_pipe(&nw);
	pid_t pid;
	char c;

	import_fence(b, create_fence(tl, 1), DMA_BUF_SYNC_WRITE);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		child_wait_readable(b, nw);
	CHECK_EQ(read(nr, &c, 1), 1);
	sleep_ms(DELAY_MS);
	inc(tl, 1);
	CHECK_EQ(wait_child(pid), 0);
}

static int recv_fd(int sock)
{
	char data;
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *c;
	int fd = -1;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static int send_fd(int sock, int fd)
{
	char data = 'f';
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* A child forked before the fence exists receives it over SCM_RIGHTS. */
/* fd census of a child before it exits: exactly the fds it was born with
 * plus those it says it keeps.  Return: 0 if so, else 1. */
static int child_census(const unsigned char *born, int keep1, int keep2)
{
	unsigned char now[FD_SCAN];

	fd_snapshot(now);
	for (int fd = 0; fd < FD_SCAN; fd++) {
		bool want = born[fd] || fd == keep1 || fd == keep2;

		if ((bool)now[fd] != want) {
			char name[64];

			fd_name(fd, name, sizeof(name));
			fprintf(stderr, "# child %d: fd %d %s (%s)\n", (int)getpid(), fd,
				now[fd] ? "left open" : "lost", name);
			return 1;
		}
	}
	return 0;
}

/*
 * Three processes, one timeline and one dma-buf: A imports a fence of the
 * timeline into the buffer, B sees it (EXPORT, poll) and waits, C
 * advances the timeline; B wakes.  Each checks its own fds at the end.
 */
static void t_xproc_three_processes(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int aw, ar = new_pipe(&aw), bw, br = new_pipe(&bw);
	unsigned char born[FD_SCAN];
	pid_t a, bp, c;
	char x;

	fflush(stdout);
	fd_snapshot(born);
	a = fork();
	REQUIRE(a >= 0);
	if (a == 0) {
		int f = create_fence(tl, 1);
		int code = 0;

		if (try_import(b, f, DMA_BUF_SYNC_WRITE))
			code |= 4;
		xclose(f);
		code |= child_census(born, -1, -1) << 3;
		if (write(aw, "a", 1) != 1)
			code |= 16;
		_exit(code);
	}
	CHECK_EQ(read(ar, &x, 1), 1);
	CHECK_EQ(wait_child(a), 0);
	bp = fork();
	REQUIRE(bp >= 0);
	if (bp == 0) {
		int e = export_fence(b, DMA_BUF_SYNC_READ);
		int code = 0;

		/* the writer A imported is pending: not readable, here too */
		if (revents(e, POLLIN, 0) != 0 || sf_status(e) != 0)
			code |= 2;
		if (revents(b, POLLIN | POLLOUT, 0) != 0)
			code |= 4;
		if (write(bw, "b", 1) != 1)
			code |= 8;
		/* C advances the timeline: both wake */
		if (revents(b, POLLIN, BLOCK_MS) != POLLIN)
			code |= 16;
		if (revents(e, POLLIN, BLOCK_MS) != POLLIN || sf_status(e) != 1)
			code |= 32;
		xclose(e);
		code |= child_census(born, -1, -1) << 6;
		_exit(code);
	}
	CHECK_EQ(read(br, &x, 1), 1);
	c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		__u32 one = 1;
		int code = U_ioctl(tl, SW_SYNC_IOC_INC, &one) ? 2 : 0;

		code |= child_census(born, -1, -1) << 2;
		_exit(code);
	}
	CHECK_EQ(wait_child(c), 0);
	CHECK_EQ(wait_child(bp), 0);
	/* and the parent sees what they did */
	CHECK_EQ(revents(b, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
}

/*
 * A chain of fork children, each holding the timeline, handing down and
 * closing its copy: the points signal -ENOENT only when the last copy, the
 * deepest child's, is closed.
 */
static void t_xproc_fork_chain_lifetime(void)
{
	int tl = open_timeline(), f = create_fence(tl, 1);
	int gw, gr = new_pipe(&gw);
	pid_t head;
	char x;

	fflush(stdout);
	head = fork();
	REQUIRE(head >= 0);
	if (head == 0) {
		/* 4 levels: each forks the next, closes its copy, waits for it */
		for (int depth = 0; depth < 4; depth++) {
			pid_t next = fork();

			if (next < 0)
				_exit(2);
			if (next > 0) {
				U_close(tl);
				_exit(wait_child(next));
			}
		}
		/* the deepest: hold the last copy until told */
		if (read(gr, &x, 1) != 1)
			_exit(4);
		U_close(tl);
		_exit(0);
	}
	/* the parent's copy goes first: the chain still holds one */
	xclose(tl);
	sleep_ms(DELAY_MS);
	CHECK_EQ(revents(f, POLLIN, 0), 0);
	CHECK_EQ(sf_status(f), 0);
	CHECK_EQ(write(gw, "g", 1), 1);
	CHECK_EQ(wait_child(head), 0);
	CHECK_EQ(revents(f, POLLIN, BLOCK_MS), POLLIN);
	CHECK_EQ(sf_status(f), -ENOENT);
}

/*
 * A holder killed with SIGKILL at any instant, in the middle of requests
 * on shared objects, leaves every other process working: requests on the
 * same objects answer, nothing waits forever, and its fds are released.
 */
static void t_xproc_sigkill_mid_request(void)
{
	int tl = open_timeline(), b = new_dmabuf(PAGE);
	int64_t t0 = now_ns();
	unsigned v = 0;

	for (int round = 0; round < 40 && ms_since(t0) < 8000; round++) {
		int rw, rr = new_pipe(&rw), f, e;
		pid_t pid;
		char x;

		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			if (write(rw, "r", 1) != 1)
				_exit(2);
			for (unsigned i = 0;; i++) {
				int g = create_fence(tl, v + 1 + (i % 3)), m;
				struct sync_file_info info;

				m = try_merge(g, g, "k", 0, 0);
				try_import(b, g, (i & 1) ? DMA_BUF_SYNC_READ : DMA_BUF_SYNC_WRITE);
				memset(&info, 0, sizeof(info));
				U_ioctl(g, SYNC_IOC_FILE_INFO, &info);
				e = try_export(b, DMA_BUF_SYNC_RW);
				if (e >= 0)
					xclose(e);
				if (m >= 0)
					xclose(m);
				xclose(g);
			}
		}
		CHECK_EQ(read(rr, &x, 1), 1);
		sleep_ms((unsigned)(round % 7));
		kill(pid, SIGKILL);
		CHECK_EQ(wait_child(pid), 128 + SIGKILL);
		/* everything still answers, here */
		f = create_fence(tl, v + 5);
		REQUIRE(f >= 0);
		CHECK_EQ(sf_count(f), 1);
		CHECK_EQ(try_import(b, f, DMA_BUF_SYNC_WRITE), 0);
		e = export_fence(b, DMA_BUF_SYNC_RW);
		CHECK(e >= 0);
		CHECK_EQ(revents(b, POLLIN, 0), 0);
		/* release every point the child made: the buffer goes idle */
		inc(tl, 5);
		v += 5;
		CHECK_EQ(revents(b, POLLIN | POLLOUT, BLOCK_MS), POLLIN | POLLOUT);
		CHECK_EQ(revents(e, POLLIN, BLOCK_MS), POLLIN);
		xclose(e);
		xclose(f);
		xclose(rr);
		xclose(rw);
		if (t_failed)
			break;
	}
}

static void t_xproc_scm_rights(void)
{
	int sv[2], tl, f;
	pid_t pid;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		SKIP("no AF_UNIX sockets here (%s)", errname(errno));
	track(sv[0]);
	track(sv[1]);
	tl = open_timeline();
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int fd = recv_fd(sv[1]);
		struct sync_file_info info;

		if (fd < 0)
			_exit(16);
		memset(&info, 0, sizeof(info));
		if (U_ioctl(fd, SYNC_IOC_FILE_INFO, &info) != 0 || info.num_fences != 1 ||
		    info.status != 0)
			_exit(32);
		if (!is_cloexec(fd))
			_exit(64);
		child_wait_readable(fd, sv[1]);
	}
	f = create_fence(tl, 1);
	REQUIRE(send_fd(sv[0], f) == 0);
	CHECK_EQ(read(sv[0], &c, 1), 1);
	sleep_ms(DELAY_MS);
	inc(tl, 1);
	CHECK_EQ(wait_child(pid), 0);
}

/* The same through pidfd_getfd(2), which needs no sockets. */
static void t_xproc_pidfd_getfd(void)
{
	int nw, nr = new_pipe(&nw);
	int fw, fr = new_pipe(&fw);
	int tl = open_timeline();
	long probe;
	pid_t pid;
	int f;
	char c;

	probe = syscall(SYS_pidfd_open, getpid(), 0);
	if (probe < 0)
		SKIP("pidfd_open: %s", errname(errno));
	U_close((int)probe);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int num, pidfd, fd;

		if (read(fr, &num, sizeof(num)) != sizeof(num))
			_exit(16);
		pidfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, num, 0);
		if (fd < 0)
			_exit(32);
		if (!is_cloexec(fd))
			_exit(64);
		child_wait_readable(fd, nw);
	}
	f = create_fence(tl, 1);
	REQUIRE(write(fw, &f, sizeof(f)) == sizeof(f));
	CHECK_EQ(read(nr, &c, 1), 1);
	sleep_ms(DELAY_MS);
	inc(tl, 1);
	CHECK_EQ(wait_child(pid), 0);
}

/*
 * A dma-buf's mappings as Linux makes them: of the dma-buf file, whose
 * inode has no type (so mappable up to ULONG_MAX bytes: a negative offset
 * overflows), and for the system heap of PFNs (a private mapping is one
 * remap_pfn_range() call: one page).  Advice: MADV_REMOVE punches nothing
 * (ENODEV; the pages stay), and the heap's PFNs cannot be dropped, aged,
 * paged out, dumped or re-forked (EINVAL), nor count as resident.  A
 * dma-buf cannot be reopened through /proc or /dev/fd (ENXIO); a device
 * can (a new device fd).  (Session 19, from a helper's probe: under the
 * preload the mappings were the memfds' and MADV_REMOVE freed their memory;
 * a read-only heap buffer reopened read-write through /proc.)
 */
static void t_dmabuf_mapping_rules(void)
{
	char path[64];
	bool have_madvise = madvise(NULL, 0, MADV_NORMAL) == 0 || errno != ENOSYS;

	for (int k = 0; k < NKINDS; k++) {
		int b, fd;
		unsigned char *p, vec[2];
		bool heap = k == KIND_HEAP;

		if (!kind_ok(k))
			continue;
		diag("%s", kind_name[k]);
		b = new_dmabuf_kind(k, 2 * PAGE);
		CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, -(off_t)PAGE), EOVERFLOW);
		CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, b, -((off_t)1 << 40)), EINVAL);
		CHECK_ERR(U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, (off_t)1 << 40), EINVAL);
		p = track_map(U_mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, b, 0), 2 * PAGE);
		CHECK_EQ(p == MAP_FAILED ? errno : 0, EINVAL);	/* heap: PFNs; udmabuf: shared only */
		if (p != MAP_FAILED)
			xunmap(p);
		p = track_map(U_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, b, PAGE), PAGE);
		CHECK_EQ(p == MAP_FAILED ? errno : 0, heap ? 0 : EINVAL);
		if (p != MAP_FAILED)
			xunmap(p);
		p = track_map(U_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0),
			      2 * PAGE);
		REQUIRE(p != MAP_FAILED);
		p[PAGE] = 0x32;
		if (have_madvise) {
			unsigned char *r;

			CHECK_ERR(madvise(p + PAGE, PAGE, MADV_REMOVE), ENODEV);
			CHECK_EQ(p[PAGE], 0x32);
			if (heap) {
				CHECK_ERR(madvise(p, 2 * PAGE, MADV_DONTNEED), EINVAL);
				CHECK_ERR(madvise(p, 2 * PAGE, MADV_COLD), EINVAL);
				CHECK_ERR(madvise(p, 2 * PAGE, MADV_PAGEOUT), EINVAL);
				CHECK_ERR(madvise(p, 2 * PAGE, MADV_DODUMP), EINVAL);
				CHECK_ERR(madvise(p, 2 * PAGE, MADV_DOFORK), EINVAL);
			} else {
				CHECK_EQ(madvise(p, 2 * PAGE, MADV_DONTNEED), 0);
			}
			CHECK_EQ(p[PAGE], 0x32);
			r = track_map(U_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, PAGE), PAGE);
			REQUIRE(r != MAP_FAILED);
			CHECK_ERR(madvise(r, PAGE, MADV_REMOVE), EACCES);
			CHECK_EQ(r[0], 0x32);
			xunmap(r);
		}
		CHECK_EQ(mincore(p, 2 * PAGE, vec), 0);
		CHECK_EQ(vec[1] & 1, heap ? 0 : 1);
		xunmap(p);
		/* no reopening a dma-buf; a device reopens */
		for (int m = 0; m < (access("/dev/fd", F_OK) ? 2 : 3); m++) {
			snprintf(path, sizeof(path), m == 2 ? "/dev/fd/%d" : "/proc/self/fd/%d", b);
			CHECK_ERR(U_open(path, m == 1 ? O_RDONLY : O_RDWR), ENXIO);
		}
		fd = heap ? open_heap() : open_udmabuf_dev();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		CHECK_OK(track(U_open(path, O_RDWR | O_CLOEXEC)));
		xclose(b);
	}
	if (kind_ok(KIND_UDMABUF)) {
		/* a udmabuf is read-write whatever its memfd's fd was opened for */
		int mfd = new_memfd(PAGE, F_SEAL_SHRINK), ro, b;
		unsigned char *p, c = 0;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
		ro = track(open(path, O_RDONLY | O_CLOEXEC));
		REQUIRE(ro >= 0);
		b = try_udmabuf(open_udmabuf_dev(), ro, 0, PAGE, UDMABUF_FLAGS_CLOEXEC);
		REQUIRE(b >= 0);
		p = track_map(U_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0), PAGE);
		CHECK_EQ(p == MAP_FAILED ? errno : 0, 0);
		if (p != MAP_FAILED) {
			p[7] = 0x42;
			CHECK_EQ(pread(mfd, &c, 1, 7), 1);
			CHECK_EQ(c, 0x42);
			xunmap(p);
		}
	}
	if (!have_madvise)
		diag("no madvise() in this kernel: advice not compared");
}

/* A poll in another thread, of a sync file this thread closes. */
struct closed_poll {
	int fd;
	int r, err;
	short revents;
};

static void *closed_poll_fn(void *arg)
{
	struct closed_poll *c = arg;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	c->r = U_poll(&p, 1, BLOCK_MS);
	c->err = errno;
	c->revents = p.revents;
	return NULL;
}

/*
 * Linux's poll holds no fd, only the files it waits on, and looks at each
 * number anew when one wakes it: a sync file closed by another thread
 * while polled, whose point then signals, polls POLLNVAL (the number is
 * closed), not POLLIN.  (Session 19, from a helper's probe: the page's
 * answer for the point the call started with was added: POLLIN|POLLNVAL.)
 */
static void t_poll_fd_closed_by_another_thread(void)
{
	int tl = open_timeline(), f = create_fence(tl, 1);
	struct closed_poll c = { .fd = f };
	pthread_t th;

	REQUIRE(pthread_create(&th, NULL, closed_poll_fn, &c) == 0);
	sleep_ms(DELAY_MS);
	untrack(f);
	CHECK_EQ(U_close(f), 0);
	sleep_ms(DELAY_MS);
	inc(tl, 1);
	pthread_join(th, NULL);
	CHECK_EQ(c.r, 1);
	CHECK_EQ(c.revents, POLLNVAL);
}

/*
 * select() of sync files, as Linux's: readable once signaled, never
 * writable, and the time left written back into the timeval.  (Session 19:
 * under the preload, select() of sync files now goes through its poll.)
 */
static void t_select_sync_files(void)
{
	int tl = open_timeline(), f = create_fence(tl, 1), g = create_fence(tl, 2);
	struct timeval tv = { 0, 150 * 1000 };
	fd_set r, w;
	int64_t t0;

	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(f, &r);
	FD_SET(f, &w);
	FD_SET(g, &r);
	t0 = now_ns();
	CHECK_EQ(select((f > g ? f : g) + 1, &r, &w, NULL, &tv), 0);
	CHECK(ms_since(t0) >= 140);
	CHECK_EQ(tv.tv_sec, 0);
	CHECK_EQ(tv.tv_usec, 0);
	inc(tl, 1);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(f, &r);
	FD_SET(f, &w);
	FD_SET(g, &r);
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	CHECK_EQ(select((f > g ? f : g) + 1, &r, &w, NULL, &tv), 1);
	CHECK(FD_ISSET(f, &r));
	CHECK(!FD_ISSET(f, &w));
	CHECK(!FD_ISSET(g, &r));
	CHECK(tv.tv_sec >= 4 && tv.tv_sec <= 5 && (tv.tv_sec < 5 || tv.tv_usec == 0));
}

/* ================================================================== */
/* Test table and driver                                              */

#define SW NEED_SWSYNC
#define UD NEED_UDMABUF
#define HP NEED_HEAP
#define DB NEED_DMABUF
#define T(fn, need, flags, name) { name, #fn, t_##fn, need, flags }

static const struct test tests[] = {
	/* sw_sync */
	T(swsync_timeline_name_is_comm, SW, 0, "sw_sync: timeline name is the opener's comm"),
	T(swsync_sync_file_name, SW, 0, "sw_sync: sync_file name sw_sync-<comm><ctx>-<seqno>, request name ignored"),
	T(swsync_fence_fd_flags, SW, 0, "sw_sync: fence fds are O_RDONLY with FD_CLOEXEC"),
	T(swsync_past_value_born_signaled, SW, 0, "sw_sync: a point at or below the timeline value is born signaled"),
	T(swsync_wraparound, SW, 0, "sw_sync: 32-bit wrap-aware seqno compare, INC above INT_MAX"),
	T(swsync_huge_increments, SW, 0, "sw_sync: INCs past 2^31 signal what Linux's steps do; signaled stays signaled"),
	T(swsync_inc_signals_in_order, SW, 0, "sw_sync: INC signals every point up to the new value"),
	T(swsync_same_value_shares_fence, SW, 0, "sw_sync: two fences for one pending value share a dma_fence"),
	T(swsync_close_timeline_enoent, SW, 0, "sw_sync: closing the timeline signals pending points with -ENOENT"),
	T(swsync_close_routes, SW, F_KERNEL, "sw_sync: a timeline closed by dup2/dup3/close_range/fclose signals at once"),
	T(swsync_close_unpolled_merge_status, SW, 0, "sw_sync: merge of failed points: count-only status depends on poll order"),
	T(swsync_bad_args, SW, 0, "sw_sync: EFAULT, ENOTTY, EBADF; no fd leaks on copy-out failure"),
	T(swsync_timeline_poll, SW, 0, "sw_sync: the timeline fd always polls readable and writable"),
	/* sync_file */
	T(syncfile_poll_sticky, SW, 0, "sync_file: poll POLLIN only, sticky once signaled"),
	T(syncfile_poll_blocking_thread, SW, 0, "sync_file: blocking poll woken by INC from a thread"),
	T(syncfile_poll_blocking_child, SW, F_XPROC, "sync_file: blocking poll woken by INC from a forked child"),
	T(epoll_set_polled_after_inc, SW, F_XPROC | F_KERNEL, "sync_file in an epoll set: epoll_wait/pwait/pwait2 of it, poll/select of it and of a set holding it see the INC at once"),
	T(fd_listing_census, SW, F_KERNEL, "an fd census in /proc/self/fd, /proc/self/fdinfo, /dev/fd finds what it did before using every object, and what fcntl() finds"),
	T(raw_close_range_above_highest, SW, F_KERNEL, "requests after a raw close_range() system call of every fd above the highest all work"),
	T(swsync_released_by_exit, SW, F_XPROC | F_KERNEL, "sw_sync: a timeline whose last fd goes with a child's exit has signaled -ENOENT when waitpid() returns"),
	T(syncfile_poll_many, SW, 0, "sync_file: poll on several sync_files"),
	T(syncfile_ppoll_timeout, SW, 0, "sync_file: ppoll times out, then reports POLLIN"),
	T(syncfile_lseek_read, SW, F_KERNEL, "sync_file: lseek ESPIPE, read EINVAL"),
	T(syncfile_fstat, SW, F_KERNEL, "sync_file: fstat/statx: anon inode 0600, size 0, root's"),
	T(device_fstat, 0, F_KERNEL, "sw_sync, udmabuf, heap fds: fstat/statx is stat() of the path"),
	T(device_access, 0, F_KERNEL, "sw_sync, udmabuf, heap paths: access() modes, X_OK EACCES"),
	T(device_path_forms, 0, F_KERNEL, "device paths with //, ., .., trailing /, from a directory fd"),
	T(device_o_path, 0, F_KERNEL, "O_PATH of the device paths: a path-only fd, reopened through /proc"),
	T(syncfile_unknown_ioctls, SW, 0, "sync_file: unknown and foreign ioctls are ENOTTY"),
	T(syncfile_set_deadline, SW, 0, "sync_file: SYNC_IOC_SET_DEADLINE (ENOTTY before 6.4)"),
	/* FILE_INFO */
	T(fileinfo_two_call_protocol, SW, 0, "FILE_INFO: two-call protocol, num_fences too small/large"),
	T(fileinfo_fence_fields, SW, 0, "FILE_INFO: per-fence obj_name, driver_name, status, flags, timestamp"),
	T(fileinfo_status_aggregate, SW, 0, "FILE_INFO: status 0 while any fence pends, 1 when all signaled"),
	T(fileinfo_bad_args, SW, 0, "FILE_INFO: flags/pad EINVAL, bad pointers EFAULT"),
	/* MERGE */
	T(merge_two_timelines, SW, 0, "MERGE: two timelines give two fences, caller's name, FD_CLOEXEC"),
	T(merge_same_timeline_keeps_later, SW, 0, "MERGE: same timeline keeps only the later point"),
	T(merge_drops_signaled, SW, 0, "MERGE: signaled fences are dropped"),
	T(merge_all_signaled_stub, SW, 0, "MERGE: all signaled gives a private stub with the latest timestamp"),
	T(merge_self, SW, 0, "MERGE: a sync_file merged with itself"),
	T(merge_flattens_nested, SW, 0, "MERGE: merges of merges are flattened and deduplicated"),
	T(merge_names, SW, 0, "MERGE: name truncation, empty name, .fence input ignored"),
	T(args_written_back, SW | DB, 0, "CREATE_FENCE, MERGE, FILE_INFO, EXPORT: the argument written back"),
	T(merge_bad_args, SW, 0, "MERGE: flags/pad EINVAL, fd2 not a sync_file ENOENT, EFAULT"),
	/* udmabuf */
	T(udmabuf_create_basic, UD, 0, "udmabuf: CREATE, size, O_RDWR, UDMABUF_FLAGS_CLOEXEC honoured"),
	T(udmabuf_seals, UD, 0, "udmabuf: F_SEAL_SHRINK required, F_SEAL_WRITE/FUTURE_WRITE refused"),
	T(udmabuf_geometry, UD, 0, "udmabuf: unaligned, empty, oversized or out-of-range ranges are EINVAL"),
	T(udmabuf_bad_fds, UD, 0, "udmabuf: memfd that is not shmem (pipe, -1, dma-buf, ...) is EBADFD"),
	T(udmabuf_bad_args, UD, 0, "udmabuf: EFAULT and ENOTTY on /dev/udmabuf"),
	T(udmabuf_create_list, UD, 0, "udmabuf: CREATE_LIST concatenates ranges coherently"),
	T(udmabuf_create_list_errors, UD, 0, "udmabuf: CREATE_LIST count and item errors"),
	T(udmabuf_list_overrun, UD, 0, "udmabuf: CREATE_LIST count past the caller's stack array: an errno, no crash"),
	T(udmabuf_list_alias, UD, 0, "udmabuf: a page listed twice aliases"),
	T(udmabuf_list_many, UD, F_XPROC, "udmabuf: 1024 items, 300 memfds; item errors in order"),
	T(udmabuf_mmap_coherency, UD, 0, "udmabuf: mmap coherent with the memfd, offsets, limits, MAP_PRIVATE"),
	T(udmabuf_sync_end_first, UD, 0, "udmabuf: SYNC END before any START is EINVAL"),
	/* dma-heap */
	T(heap_alloc_basic, HP, 0, "dma-heap: ALLOC, fd_flags, size rounded up"),
	T(heap_alloc_errors, HP, 0, "dma-heap: ALLOC errors; unknown ioctls are EINVAL"),
	T(heap_alloc_write_only_request, HP | SW, 0, "dma-heap: ALLOC without the read direction is 0 and copies nothing out; the process's other objects keep working"),
	T(heap_mmap, HP, 0, "dma-heap: mmap, O_RDONLY buffer refuses PROT_WRITE"),
	/* dma-buf */
	T(dmabuf_lseek, DB, 0, "dma-buf: lseek SEEK_END/SEEK_SET 0 only"),
	T(dmabuf_set_name, DB, 0, "dma-buf: SET_NAME/_A/_B, 31 ok, 32 EINVAL, EFAULT"),
	T(dmabuf_fdinfo, DB, F_KERNEL, "dma-buf: fdinfo size/count/exp_name/name and /proc link"),
	T(dmabuf_fstat, DB, F_KERNEL, "dma-buf: fstat/statx: anon inode 0600, the buffer's size"),
	T(dmabuf_unknown_ioctls, DB, 0, "dma-buf: unknown and foreign ioctls are ENOTTY"),
	T(dmabuf_sync_flags, DB, 0, "dma-buf: DMA_BUF_IOCTL_SYNC flag validation"),
	T(dmabuf_read_write, DB, F_KERNEL, "dma-buf: read/write are EINVAL"),
	T(socket_calls, SW, F_KERNEL, "no dmasync fd is a socket: socket calls are ENOTSOCK"),
	/* EXPORT */
	T(export_flags, DB, 0, "EXPORT: flags 0..7 and invalid bits"),
	T(export_idle_is_stub, DB, 0, "EXPORT: idle buffer exports the global stub \"stub-stub0-0\""),
	T(export_one_pending_is_itself, DB | SW, 0, "EXPORT: one pending fence exports itself"),
	T(export_read_gets_writers_only, DB | SW, 0, "EXPORT: READ exports writers, WRITE/RW everybody"),
	T(export_two_pending_array, DB | SW, 0, "EXPORT: two fences give dma_fence_array-unbound<ctx>-1"),
	T(export_bad_args, DB, 0, "EXPORT: EFAULT without fd leak, ENOTTY on non-dma-bufs"),
	/* IMPORT */
	T(import_flags, DB | SW, 0, "IMPORT: flags 0..7 and invalid bits"),
	T(import_bad_fds, DB | SW, 0, "IMPORT: any fd that is not a sync_file is EINVAL"),
	T(import_signaled, DB | SW, 0, "IMPORT: a signaled fence is accepted and leaves the buffer idle"),
	T(import_merged_is_unwrapped, DB | SW, 0, "IMPORT: a merged sync_file is split into its fences"),
	T(import_same_timeline_rules, DB | SW, 0, "IMPORT: same-timeline replacement rules"),
	/* poll / epoll / SYNC waits */
	T(dmabuf_poll_idle, DB, 0, "dma-buf poll: idle buffer reports exactly the requested subset"),
	T(dmabuf_poll_pending_write, DB | SW, 0, "dma-buf poll: pending WRITE fence blocks POLLIN and POLLOUT"),
	T(dmabuf_poll_pending_read, DB | SW, 0, "dma-buf poll: pending READ fence blocks only POLLOUT"),
	T(dmabuf_poll_long_array, DB | SW, 0, "dma-buf poll: an array of 5000 entries"),
	T(dmabuf_poll_blocking_thread, DB | SW, 0, "dma-buf poll: blocking poll woken by INC from a thread"),
	T(dmabuf_poll_blocking_child, DB | SW, F_XPROC, "dma-buf poll: blocking poll woken by INC from a forked child"),
	T(dmabuf_poll_two_writers, DB | SW, 0, "dma-buf poll: blocking poll waits for every writer"),
	T(dmabuf_poll_merged_import, DB | SW, 0, "dma-buf poll: imported merge ready only when all signaled"),
	T(dmabuf_ppoll, DB | SW, 0, "dma-buf poll: ppoll timeout, POLLIN and POLLOUT entries"),
	T(signals_interrupt_waits, DB | SW, 0, "signals: poll EINTR always, SYNC START EINTR or restarted"),
	T(dma_buf_poll_both_from_child, DB | SW, F_XPROC, "dma-buf: children polling POLLIN|POLLOUT (poll, epoll) wake with POLLOUT, never POLLIN alone, when its only fence, a writer, signals"),
	T(vfork_child_closes, DB | SW, F_XPROC, "vfork() children closing every fd (close_range, dup2 over a dma-buf) leave the parent's registrations, points and timeline as they were"),
	T(vfork_parent_waits, 0, F_XPROC, "a vfork() parent resumes only once its child has exec'ed or exited"),
	T(vfork_beside_fork, 0, F_XPROC, "vfork()s beside another thread's forks of long-lived children do not wait for those"),
	T(epoll_dmabuf, DB | SW, 0, "epoll: dma-buf readiness and data.u64 returned unchanged"),
	T(epoll_dmabuf_closed, DB, 0, "epoll: a dma-buf's registration goes with its last close"),
	T(epoll_dmabuf_edge_triggered, DB | SW, 0, "epoll: edge-triggered on a dma-buf reports it at every wait while ready"),
	T(epoll_dmabuf_file_not_number, DB, F_KERNEL, "epoll: a dma-buf's registration is its file's: dup'd and closed, sets at reused numbers"),
	T(vfs_ioctls, 0, 0, "FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC, FIGETBSZ, FIOQSIZE, FIONREAD, FIDEDUPERANGE on every kind"),
	T(fd_fs_flags, 0, F_KERNEL, "fstatfs f_type, F_GETFL O_LARGEFILE, O_ASYNC ignored, per kind"),
	T(rw_calls, 0, F_KERNEL, "readv, writev, pread, pwrite, preadv, pwritev, preadv2, sendfile, splice per kind"),
	T(select_sync_files, SW, 0, "select: a sync file readable once signaled, never writable; the time left written back"),
	T(poll_fd_closed_by_another_thread, SW, 0, "poll: a sync file closed by another thread while polled reads POLLNVAL"),
	T(dmabuf_mapping_rules, DB, F_KERNEL, "dma-buf mappings: offsets past ULONG_MAX, private heap pages, advice, no reopening"),
	T(rw_calls_odd_arguments, 0, F_KERNEL, "negative positions, bad vectors, empty splices and tees, offsets on pipes and unpositioned files, EPOLLEXCLUSIVE with other events"),
	T(file_calls, 0, F_KERNEL, "ftruncate, fallocate, fsync, copy_file_range, locks, seals, leases, xattrs per kind"),
	T(open_modes, 0, F_KERNEL, "devices and sw_sync keep their access mode; a sync file's O_NONBLOCK shows"),
	T(epoll_dmabuf_blocking, DB | SW, 0, "epoll: epoll_wait on a dma-buf woken by a thread"),
	T(epoll_sync_file, SW, 0, "epoll: sync_file level/edge triggered"),
	T(epoll_sync_file_events, SW, 0, "epoll: sync_file reports EPOLLIN alone, whatever was asked"),
	T(epoll_dmabuf_events, DB | SW, 0, "epoll: dma-buf reports EPOLLIN/EPOLLOUT alone, whatever was asked"),
	T(epoll_no_poll_method, SW, 0, "epoll: a timeline or device fd (no poll method) is EPERM"),
	T(dmabuf_sync_start_waits, DB | SW, 0, "dma-buf SYNC: START waits for the implicit fences"),
	T(fds_exhausted, SW, 0, "EMFILE: which requests reserve the fd before checking arguments"),
	/* cross-process */
	T(xproc_fork_inherit, SW, F_XPROC, "xproc: inherited sync_file polls readable once the parent signals"),
	T(xproc_dmabuf_inherit, DB | SW, F_XPROC, "xproc: inherited dma-buf polls readable once the parent signals"),
	T(xproc_three_processes, DB | SW, F_XPROC, "xproc: import in A, export and poll in B, INC in C"),
	T(xproc_fork_chain_lifetime, SW, F_XPROC, "xproc: a timeline held down a fork chain lives until the last copy"),
	T(xproc_sigkill_mid_request, DB | SW, F_XPROC, "xproc: a holder SIGKILLed mid-request leaves the others working"),
	T(xproc_scm_rights, SW, F_XPROC, "xproc: sync_file sent over SCM_RIGHTS"),
	T(xproc_pidfd_getfd, SW, F_XPROC, "xproc: sync_file taken with pidfd_getfd"),
};

static const char *missing(unsigned need)
{
	if ((need & NEED_SWSYNC) && !have_swsync)
		return "no " SW_SYNC_PATH;
	if ((need & NEED_UDMABUF) && !have_udmabuf)
		return "no " UDMABUF_PATH;
	if ((need & NEED_HEAP) && !have_heap)
		return "no " HEAP_PATH;
	if ((need & NEED_DMABUF) && !have_udmabuf && !have_heap)
		return "no " UDMABUF_PATH " and no " HEAP_PATH;
	return NULL;
}

static bool probe(const char *path, int flags)
{
	int fd = U_open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return false;
	U_close(fd);
	return true;
}

static bool selected(const struct test *t, int nfilters, char **filters)
{
	if (nfilters == 0)
		return true;
	for (int i = 0; i < nfilters; i++)
		if (strstr(t->name, filters[i]) || strstr(t->id, filters[i]))
			return true;
	return false;
}

/*
 * Kernel log watch (kernel backend only): a test fails if the kernel logs a
 * BUG or WARNING while it runs.  Needs a readable /dev/kmsg.
 */
static int kmsg_fd = -1;

static void kmsg_open(void)
{
#ifndef UAPI_ON_DMASYNC
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
#endif
}

static void kmsg_check(void)
{
	char rec[2048];
	ssize_t n;

	if (kmsg_fd < 0)
		return;
	for (;;) {
		char *msg;

		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* records were overwritten */
		if (n <= 0)
			return;
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = 0;
		if (strstr(msg, "BUG") || strstr(msg, "WARNING") || strstr(msg, "Bad page")) {
			printf("#   kernel: %s\n", msg);
			t_failed = true;
		} else if (verbose) {
			printf("#   kernel log: %s\n", msg);
		}
	}
}

static struct rlimit initial_nofile;

/* Runs one test; sets t_failed / t_skip. */
static void run_one(const struct test *t)
{
	t_failed = false;
	t_skip[0] = 0;
	t_nfds = 0;
	t_nmaps = 0;
	fd_snapshot(fd_before);
	for (int fd = 0; fd < FD_NAMED; fd++)
		if (fd_before[fd])
			fd_name(fd, fd_names[fd], sizeof(fd_names[fd]));
	if (setjmp(t_jmp) == 0)
		t->fn();
	/* after longjmp: 1 = REQUIRE failed, 2 = SKIP */
	join_leftover_threads();
	setrlimit(RLIMIT_NOFILE, &initial_nofile);
	while (waitpid(-1, NULL, 0) > 0) /* children of an aborted test */
		;
	cleanup_tracked();
	kmsg_check();
	/*
	 * An emulation may release what a closed fd held a little later (a
	 * monitor thread notices the close): allow it a second to settle.
	 */
	for (int tries = 0; tries < 100; tries++) {
		fd_snapshot(fd_after);
		if (!memcmp(fd_before, fd_after, FD_SCAN))
			break;
		sleep_ms(10);
	}
	for (int fd = 0; fd < FD_SCAN; fd++) {
		if (fd_before[fd] != fd_after[fd]) {
			char now[128];

			if (fd_after[fd])
				fd_name(fd, now, sizeof(now));
			printf("#   fd %d (%s) %s during the test\n", fd,
			       fd_after[fd] ? now : fd < FD_NAMED ? fd_names[fd] : "?",
			       fd_after[fd] ? "leaked" : "was closed");
			t_failed = true;
		}
	}
}

int main(int argc, char **argv)
{
	const int ntests = (int)(sizeof(tests) / sizeof(tests[0]));
	int passed = 0, failed = 0, skipped = 0, n = 0, total = 0;
	char **filters = argv + 1;
	int nfilters = argc - 1;

	if (argc == 2 && !strcmp(argv[1], "--exit"))
		return 0;	/* vfork_sleeper()'s exec */
	if (argc > 0 && strchr(argv[0], '/') && strlen(argv[0]) < sizeof(self_path)) {
		char *real = realpath(argv[0], NULL);

		if (real && strlen(real) < sizeof(self_path))
			strcpy(self_path, real);
		free(real);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_main_pid = getpid();
	while (nfilters > 0 && filters[0][0] == '-') {
		if (strcmp(filters[0], "-l") == 0) {
			for (int i = 0; i < ntests; i++)
				printf("%-36s %s\n", tests[i].id, tests[i].name);
			return 0;
		} else if (strcmp(filters[0], "-v") == 0) {
			verbose = true;
		} else {
			fprintf(stderr, "usage: %s [-l] [-v] [SUBSTRING...]\n", argv[0]);
			return 2;
		}
		filters++;
		nfilters--;
	}

	signal(SIGPIPE, SIG_IGN);
	prctl(PR_GET_NAME, comm);
	have_swsync = probe(SW_SYNC_PATH, O_RDWR);
	have_udmabuf = probe(UDMABUF_PATH, O_RDWR);
	have_heap = probe(HEAP_PATH, O_RDONLY);
	kmsg_open();
	getrlimit(RLIMIT_NOFILE, &initial_nofile);
#ifdef UAPI_ON_DMASYNC
	if (initial_nofile.rlim_cur < FD_SCAN + 64 && initial_nofile.rlim_cur >= 128)
		fd_scan = (int)initial_nofile.rlim_cur - 64;
#endif

	for (int i = 0; i < ntests; i++)
		total += selected(&tests[i], nfilters, filters);
	{
		struct utsname u;

		if (uname(&u) == 0)
			printf("# %s %s %s\n", u.sysname, u.release, u.machine);
	}
#ifndef UAPI_ON_DMASYNC
	on_dmasync = getenv("UAPI_BACKEND") && !strcmp(getenv("UAPI_BACKEND"), "dmasync");
#endif
	printf("# dma-buf UAPI conformance, backend: %s%s, comm \"%s\"\n", UAPI_BACKEND,
#ifdef UAPI_ON_DMASYNC
	       "",
#else
	       on_dmasync ? " (dmasync run)" : "",
#endif
	       comm);
	printf("# sw_sync: %s, udmabuf: %s, system heap: %s\n", have_swsync ? "yes" : "no",
	       have_udmabuf ? "yes" : "no", have_heap ? "yes" : "no");
	printf("1..%d\n", total);
	/* Let closes done by the probes above settle (an emulation may release
	 * what they held asynchronously) before the first fd census. */
	{
		static unsigned char a[FD_SCAN], b[FD_SCAN];

		fd_snapshot(a);
		for (int tries = 0; tries < 50; tries++) {
			sleep_ms(20);
			fd_snapshot(b);
			if (!memcmp(a, b, FD_SCAN))
				break;
			memcpy(a, b, FD_SCAN);
		}
	}

	for (int i = 0; i < ntests; i++) {
		const struct test *t = &tests[i];
		const char *why;

		if (!selected(t, nfilters, filters))
			continue;
		n++;
		why = missing(t->need);
#ifdef UAPI_ON_DMASYNC
		if (!why && (t->flags & F_KERNEL) && !getenv("UAPI_KERNEL_ONLY"))
			why = "observes the kernel through /proc or libc read/write";
#endif
		if (why) {
			printf("ok %d - %s # SKIP %s\n", n, t->name, why);
			skipped++;
			continue;
		}

		run_one(t);
		if (t_skip[0] && !t_failed) {
			printf("ok %d - %s # SKIP %s\n", n, t->name, t_skip);
			skipped++;
		} else if (t_failed) {
			printf("not ok %d - %s\n", n, t->name);
			failed++;
		} else {
			printf("ok %d - %s\n", n, t->name);
			passed++;
		}
	}
	if (kmsg_fd >= 0)
		U_close(kmsg_fd);
	printf("# %d skipped\n", skipped);
	/* a TAP comment: meson reads this output as TAP */
	printf("# %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

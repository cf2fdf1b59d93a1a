/* SPDX-License-Identifier: MIT */
/* copy_from_user()/copy_to_user(): see uaccess.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fork.h"
#include "uaccess.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define under_valgrind() (RUNNING_ON_VALGRIND != 0)
#define show_written(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define under_valgrind() false
#define show_written(p, n) ((void)(p), (void)(n))
#endif

enum uaccess_mode {
	UACCESS_PROBE,	/* probe every page with a syscall, then memcpy() */
	UACCESS_VM,	/* process_vm_readv()/process_vm_writev() */
	UACCESS_PIPE,	/* bounce through a temporary pipe */
};

/* uaccess_mode: see uaccess.h (read there by the inline fast path). */
int uaccess_mode = -1; /* not chosen yet */
static pthread_once_t mode_once = PTHREAD_ONCE_INIT;

/*
 * Our pid, for process_vm_*(); refreshed in fork children.  0 means "not
 * known yet".  glibc no longer caches getpid(), so this saves a syscall.
 */
static pid_t self_pid;

static void forget_pid(void)
{
	__atomic_store_n(&self_pid, 0, __ATOMIC_RELAXED);
}

static const struct core_fork_handler uaccess_fork = { .child = forget_pid };

static int get_mode(void);

/* The mode is chosen here, where nothing can interrupt the choice: a
 * first copy in a signal handler would otherwise make it there. */
__attribute__((constructor)) static void uaccess_init(void)
{
	core_fork_register(CORE_FORK_UACCESS, &uaccess_fork);
	get_mode();
}

static pid_t my_pid(void)
{
	pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);

	if (!pid) {
		pid = getpid();
		__atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

/* ---- probes ------------------------------------------------------------------------ */

/*
 * The kernel's signal-mask calls copy a sigset (8 bytes on the usual
 * architectures) from or to user memory and report EFAULT on a bad
 * address, with no effect otherwise:
 *  - rt_sigprocmask() with an invalid "how" reads the new set, then fails
 *    with EINVAL without changing anything;
 *  - rt_sigpending() writes the pending set, which we overwrite right after.
 * Both go straight to the kernel (no sanitizer interceptors).
 */
#define PROBE_LEN 8
#define PROBE_STEP 4096 /* no Linux page is smaller */
#define BAD_HOW 0x7fffffff

static bool probe_readable(uintptr_t addr)
{
	return syscall(SYS_rt_sigprocmask, BAD_HOW, (void *)addr, NULL, PROBE_LEN) == -1 &&
	       errno == EINVAL;
}

static bool probe_writable(uintptr_t addr)
{
	return syscall(SYS_rt_sigpending, (void *)addr, PROBE_LEN) == 0;
}

/*
 * Probe one PROBE_LEN window in every page of [@start, @start + @n).  The
 * windows stay inside the range, except for reads shorter than PROBE_LEN,
 * whose window may reach past the end (a failure there only means the
 * slow path decides).  Return: true if all probes passed.
 */
static bool probe_range(uintptr_t start, size_t n, bool write)
{
	uintptr_t end = start + n, a;

	if (end < start || (n < PROBE_LEN && (write || start + PROBE_LEN < start)))
		return false;
	for (a = start; a < end; a = (a & ~(uintptr_t)(PROBE_STEP - 1)) + PROBE_STEP) {
		uintptr_t w = a;

		if (n >= PROBE_LEN && w + PROBE_LEN > end)
			w = end - PROBE_LEN;
		if (!(write ? probe_writable(w) : probe_readable(w)))
			return false;
	}
	return true;
}

/* The probes only work if the kernel's sigset size is PROBE_LEN. */
static bool probes_work(void)
{
	char buf[PROBE_LEN] = { 0 };

	return probe_readable((uintptr_t)buf) && probe_writable((uintptr_t)buf) &&
	       !probe_readable(PROBE_STEP / 2) && !probe_writable(PROBE_STEP / 2);
}

static uintptr_t brk_start;	/* the heap's first byte (0: unknown) */

/* A file of /proc, opened and read with the system calls themselves
 * (async-signal-safe; no lazily resolved libc function). */
static int proc_open(const char *path)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
}

static ssize_t proc_read(int fd, char *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

/*
 * Where the program break began: field 47 (start_brk) of /proc/self/stat.
 * Read once, with plain system calls.
 */
static void find_brk_start(void)
{
	char buf[1024], *p;
	int fd = proc_open("/proc/self/stat"), field = 1;
	ssize_t n;

	if (fd < 0)
		return;
	n = proc_read(fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* The command (field 2) may hold spaces: count from its ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return;
	field = 2;
	for (; *p && field < 47; p++)
		if (*p == ' ')
			field++;
	if (field == 47)
		brk_start = (uintptr_t)strtoull(p, NULL, 10);
}

static void choose_mode(void)
{
	const char *strict = getenv("DMASYNC_STRICT_UACCESS");

	find_brk_start();

	/* Released with the mode: a thread that sees it chosen without going
	 * through pthread_once() sees brk_start too. */
	/* Under valgrind: no probes (each would be reported as a system
	 * call given a bad address, in the program's own error count). */
	if ((strict && *strict && *strict != '0') || under_valgrind())
		__atomic_store_n(&uaccess_mode, UACCESS_VM, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&uaccess_mode, probes_work() ? UACCESS_PROBE : UACCESS_VM,
				 __ATOMIC_RELEASE);
}

static int get_mode(void)
{
	int m = __atomic_load_n(&uaccess_mode, __ATOMIC_ACQUIRE);

	if (m < 0) {
		pthread_once(&mode_once, choose_mode);
		m = __atomic_load_n(&uaccess_mode, __ATOMIC_RELAXED);
	}
	return m;
}

/* ---- the copy itself ---------------------------------------------------------------- */

/*
 * Copy @n bytes of memory the kernel has vouched for (mapped, with the
 * right access) but that need not belong to one object of the caller's:
 * a bad length in an ioctl struct makes us read past the caller's array
 * into its neighbours, which the kernel does too, and then answers with
 * an errno after validating what it read.  A sanitizer in the program
 * (whose runtime intercepts memcpy() even for an uninstrumented library)
 * would call that an overflow and abort inside dmasync, so the copy is
 * done by an instruction the sanitizers neither intercept nor instrument.
 */
__attribute__((no_sanitize_address, no_sanitize_thread, noinline))
static void raw_copy(void *to, const void *from, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("rep movsb" : "+D"(to), "+S"(from), "+c"(n) : : "memory");
#else
	volatile unsigned char *d = to;
	const volatile unsigned char *s = from;

	while (n--)
		*d++ = *s++;
#endif
}

/* ---- exact copies -------------------------------------------------------------------- */

/*
 * Move @n bytes from @src to @dst through a pipe, in chunks that fit its
 * buffer: write() reads @src and read() writes @dst, and either reports an
 * inaccessible range as EFAULT.  Return: 0, -EFAULT, or another -errno if
 * no pipe could be made.
 */
static int pipe_copy(void *dst, const void *src, size_t n)
{
	int p[2], ret = 0;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	while (n) {
		size_t chunk = n < 4096 ? n : 4096;
		/* Raw system calls: a sanitizer's write()/read() interceptors
		 * would check the caller's range themselves (see raw_copy()). */
		ssize_t w = syscall(SYS_write, p[1], src, chunk), r;

		if (w <= 0) {
			ret = w < 0 && errno != EFAULT ? -errno : -EFAULT;
			break;
		}
		r = syscall(SYS_read, p[0], dst, (size_t)w);
		if (r != w) {
			ret = -EFAULT;
			break;
		}
		src = (const char *)src + w;
		dst = (char *)dst + w;
		n -= (size_t)w;
	}
	close(p[0]);
	close(p[1]);
	return ret;
}

/* Copy within our own address space with the kernel checking both sides. */
static int vm_copy(void *to, const void *from, size_t n, bool to_user)
{
	struct iovec local, remote;
	ssize_t r;

	local.iov_len = remote.iov_len = n;
	if (to_user) {
		local.iov_base = (void *)from;
		remote.iov_base = to;
		r = process_vm_writev(my_pid(), &local, 1, &remote, 1, 0);
		/* A write memcheck cannot see (it tracks our own process's
		 * memory only through our instructions and the system calls
		 * it knows write it): tell it, as its wrapper of the kernel's
		 * call would. */
		if (r == (ssize_t)n)
			show_written(to, n);
	} else {
		local.iov_base = to;
		remote.iov_base = (void *)from;
		r = process_vm_readv(my_pid(), &local, 1, &remote, 1, 0);
	}
	if (r == (ssize_t)n)
		return 0;
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* Refused by policy (seccomp): the pipe from now on. */
		__atomic_store_n(&uaccess_mode, UACCESS_PIPE, __ATOMIC_RELAXED);
		return pipe_copy(to, from, n);
	}
	/* EFAULT, or a partial transfer that stopped at a bad page. */
	return -EFAULT;
}

/* ---- the calling thread's own stack ---------------------------------------------- */

/*
 * Most ioctl arguments are structs on the caller's stack.  Memory between
 * the current stack pointer and the top of the thread's stack holds live
 * frames, so it is mapped and writable without asking the kernel.  The
 * bounds are found once per thread, from the mapping that holds the stack
 * pointer in /proc/self/maps (stack_bounds()); a call running on another
 * stack (sigaltstack, coroutines, sanitizers' fake frames) simply does not
 * qualify and takes the probe.
 */
/* initial-exec: no __tls_get_addr() call on the fast path of every copy */
#define TLS_IE __attribute__((tls_model("initial-exec")))
_Thread_local struct uaccess_stack uaccess_stack TLS_IE; /* 0, 0 until known */
static _Thread_local int stack_known TLS_IE; /* 0 not yet, 1 known, -1 unavailable */

/*
 * The calling thread's stack, for @sp: the readable and writable mapping
 * that holds it, in /proc/self/maps.  The main thread's is its own
 * mapping ("[stack]", which only grows); another thread's ends where its
 * descriptor begins (glibc puts it at the top of the thread's stack, in
 * the same mapping, also for a stack the program gave), since the mapping
 * above may be merged with it and go later.  No allocation, no lock, no
 * libc function resolved on first use: the first copy of a thread may be
 * made in a signal handler (a shell's SIGCHLD handler reaps children with
 * waitpid()); pthread_getattr_np(), used before, allocates and reads the
 * maps with stdio.  Return: true and the bounds, or false.
 */
static bool stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096];
	size_t have = 0;
	int fd = proc_open("/proc/self/maps");
	bool found = false, done = false;

	if (fd < 0)
		return false;
	while (!done) {
		ssize_t n = proc_read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while (!done && (nl = strchr(line, '\n'))) {
			char *p;
			uintptr_t start, end;

			*nl = '\0';
			start = (uintptr_t)strtoull(line, &p, 16);
			if (*p++ == '-') {
				end = (uintptr_t)strtoull(p, &p, 16);
				if (sp >= start && sp < end) {
					done = true;
					found = p[0] == ' ' && p[1] == 'r' && p[2] == 'w';
					*lo = start;
					*hi = end;
					if (found && !strstr(p, "[stack]")) {
						uintptr_t self = (uintptr_t)pthread_self();

						found = self > sp && self < end;
						*hi = self;
					}
				}
			}
			line = nl + 1;
		}
		/* keep the unfinished line; a line never fills the buffer */
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			break;
	}
	syscall(SYS_close, fd);
	return found;
}

static bool on_live_stack(uintptr_t a, size_t n)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	if (!stack_known) {
		uintptr_t lo, hi;

		stack_known = -1;
		if (stack_bounds(sp, &lo, &hi)) {
			uaccess_stack.lo = lo;
			uaccess_stack.hi = hi;
			stack_known = 1;
		}
	}
	return stack_known > 0 && sp >= uaccess_stack.lo && sp < uaccess_stack.hi && a >= sp &&
	       a + n >= a && a + n <= uaccess_stack.hi;
}

/*
 * The program's main heap (glibc's main arena, where the main thread's
 * small allocations live): everything between where the break began and
 * where it is now is one mapped, writable region (sbrk(0) reads libc's
 * cached break, no system call).  A program that unmaps or protects pages
 * of its own heap by hand is not supported here (it would fault where the
 * kernel answers EFAULT).
 */
static bool on_brk_heap(uintptr_t a, size_t n)
{
	uintptr_t end;

	if (!brk_start || a < brk_start || a + n < a)
		return false;
	end = (uintptr_t)sbrk(0);
	return end != (uintptr_t)-1 && a + n <= end;
}

/* uaccess_trust_range(): one range, set once (0, 0: none). */
static uintptr_t trusted_lo, trusted_hi;

void uaccess_trust_range(const void *start, size_t n)
{
	__atomic_store_n(&trusted_lo, (uintptr_t)start, __ATOMIC_RELAXED);
	__atomic_store_n(&trusted_hi, (uintptr_t)start + n, __ATOMIC_RELEASE);
}

static bool on_trusted(uintptr_t a, size_t n)
{
	uintptr_t hi = __atomic_load_n(&trusted_hi, __ATOMIC_ACQUIRE);

	return hi && a >= __atomic_load_n(&trusted_lo, __ATOMIC_RELAXED) && a + n >= a &&
	       a + n <= hi;
}

static int copy(void *to, const void *from, size_t n, bool to_user)
{
	int saved = errno, ret;

	if (!n)
		return 0;
	switch (get_mode()) {
	case UACCESS_PROBE:
		if (on_live_stack((uintptr_t)(to_user ? to : from), n) ||
		    on_brk_heap((uintptr_t)(to_user ? to : from), n) ||
		    on_trusted((uintptr_t)(to_user ? to : from), n)) {
			raw_copy(to, from, n);
			ret = 0;
			break;
		}
		if (probe_range((uintptr_t)(to_user ? to : from), n, to_user)) {
			raw_copy(to, from, n);
			ret = 0;
			break;
		}
		/* A probe failed: let the exact path decide (and fail). */
		ret = vm_copy(to, from, n, to_user);
		break;
	case UACCESS_VM:
		ret = vm_copy(to, from, n, to_user);
		break;
	default:
		ret = pipe_copy(to, from, n);
		break;
	}
	errno = saved;
	return ret;
}

/* Test hook: 0 probe+memcpy, 1 process_vm_*, 2 pipe; -1 chooses again. */
void uapi_uaccess_set_mode(int m);
void uapi_uaccess_set_mode(int m)
{
	pthread_once(&mode_once, choose_mode);
	if (m < 0)
		choose_mode();
	else
		__atomic_store_n(&uaccess_mode, m, __ATOMIC_RELAXED);
}

/* Test hook: the calling thread's stack as the first copy finds it. */
bool uapi_uaccess_stack_bounds(uintptr_t *lo, uintptr_t *hi);
bool uapi_uaccess_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
	return stack_bounds((uintptr_t)__builtin_frame_address(0), lo, hi);
}

bool uaccess_known_readable_slow(const void *from, size_t n)
{
	/* The inline half looked at the stack already (unless the thread's
	 * bounds are not known yet): the heap first. */
	return get_mode() == UACCESS_PROBE &&
	       (on_brk_heap((uintptr_t)from, n) || on_live_stack((uintptr_t)from, n) ||
		on_trusted((uintptr_t)from, n));
}

int copy_from_user(void *to, const void *from, size_t n)
{
	return copy(to, from, n, false);
}

int copy_to_user(void *to, const void *from, size_t n)
{
	return copy(to, from, n, true);
}

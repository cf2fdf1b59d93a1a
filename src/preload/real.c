/* SPDX-License-Identifier: MIT */
/* libc's own functions for the preload library: see real.h. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "real.h"

/*
 * libc's @name: a pointer to the next definition of @name after this
 * library, which starts out at a stub that looks it up, stores it and
 * calls it (a race only looks it up twice).  So each dmasync_real_NAME()
 * is one jump through the pointer, with no test and no stack frame; the
 * pointer is published with release/acquire: any thread that sees it sees
 * a usable function.  The stub passes its parameters on as they came
 * (@args), and the unevaluated call of @name checks them against libc's
 * declaration.  The pointer itself is dmasync_real_ptr_NAME (hidden, like
 * every symbol here), which the wrappers' fast paths jump through directly
 * (DMASYNC_REAL_FAST() in real.h).
 */
#define REAL(ret, name, params, args)                                           \
	typedef ret (*name##_fn) params;                                        \
	static ret first_##name params;                                         \
	name##_fn dmasync_real_ptr_##name = first_##name;                       \
	static __attribute__((noinline, cold)) ret first_##name params          \
	{                                                                       \
		name##_fn next = (name##_fn)dlsym(RTLD_NEXT, #name);            \
                                                                                \
		(void)sizeof(name args);                                        \
		__atomic_store_n(&dmasync_real_ptr_##name, next, __ATOMIC_RELEASE); \
		return next args;                                               \
	}
#define CALL(name) DMASYNC_REAL_FAST(name)

/* Whether open flags carry a mode argument. */
static int wants_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/*
 * The same for the variadic four (open, openat, fcntl, ioctl), called as
 * variadic functions, with their one optional argument (@type) always
 * passed: 0 for a mode that the flags do not want.
 */
#define REAL_VA(name, type, params, last, args)                                 \
	typedef __typeof__(&name) name##_fn;                                    \
	static int first_##name params;                                         \
	name##_fn dmasync_real_ptr_##name = first_##name;                       \
	static __attribute__((noinline, cold)) int first_##name params          \
	{                                                                       \
		name##_fn next = (name##_fn)dlsym(RTLD_NEXT, #name);            \
		va_list ap;                                                     \
		type arg;                                                       \
                                                                                \
		va_start(ap, last);                                             \
		arg = va_arg(ap, type);                                         \
		va_end(ap);                                                     \
		__atomic_store_n(&dmasync_real_ptr_##name, next, __ATOMIC_RELEASE); \
		return next args;                                               \
	}

REAL_VA(open, int, (const char *path, int flags, ...), flags, (path, flags, arg))
int dmasync_real_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (wants_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return CALL(open)(path, flags, mode);
}

REAL_VA(openat, int, (int dirfd, const char *path, int flags, ...), flags,
	(dirfd, path, flags, arg))
int dmasync_real_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (wants_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return CALL(openat)(dirfd, path, flags, mode);
}

int dmasync_real_openat_mode(int dirfd, const char *path, int flags, mode_t mode)
{
	return CALL(openat)(dirfd, path, flags, mode);
}

REAL_VA(fcntl, void *, (int fd, int cmd, ...), cmd, (fd, cmd, arg))
int dmasync_real_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	/* int and pointer arguments travel alike in the calling convention */
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return CALL(fcntl)(fd, cmd, arg);
}

REAL_VA(ioctl, void *, (int fd, unsigned long request, ...), request, (fd, request, arg))
int dmasync_real_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	return CALL(ioctl)(fd, request, arg);
}

#define PASS(ret, name, params, args)                                           \
	REAL(ret, name, params, args)                                           \
	ret dmasync_real_##name params                                          \
	{                                                                       \
		return CALL(name) args;                                         \
	}

PASS(int, close, (int fd), (fd))
int dmasync_real_ioctl_ptr(int fd, unsigned long request, void *arg)
{
	return CALL(ioctl)(fd, request, arg);
}

int dmasync_real_fcntl_ptr(int fd, int cmd, void *arg)
{
	return CALL(fcntl)(fd, cmd, arg);
}

PASS(int, pipe, (int fds[2]), (fds))
PASS(int, pipe2, (int fds[2], int flags), (fds, flags))
PASS(int, socket, (int domain, int type, int protocol), (domain, type, protocol))
PASS(int, socketpair, (int domain, int type, int protocol, int sv[2]),
     (domain, type, protocol, sv))
PASS(int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
PASS(int, accept4, (int fd, struct sockaddr *addr, socklen_t *len, int flags),
     (fd, addr, len, flags))
PASS(int, eventfd, (unsigned int initval, int flags), (initval, flags))
PASS(int, epoll_create, (int size), (size))
PASS(int, epoll_create1, (int flags), (flags))
PASS(int, close_range, (unsigned int lo, unsigned int hi, int flags), (lo, hi, flags))
/* void: the stub's "return f(lo)" would be one of a void expression */
typedef void (*closefrom_fn)(int lo);
static void first_closefrom(int lo);
static closefrom_fn dmasync_real_ptr_closefrom = first_closefrom;
static __attribute__((noinline, cold)) void first_closefrom(int lo)
{
	closefrom_fn next = (closefrom_fn)dlsym(RTLD_NEXT, "closefrom");

	__atomic_store_n(&dmasync_real_ptr_closefrom, next, __ATOMIC_RELEASE);
	next(lo);
}

void dmasync_real_closefrom(int lo)
{
	CALL(closefrom)(lo);
}

PASS(pid_t, wait, (int *status), (status))
PASS(pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options))
PASS(pid_t, wait3, (int *status, int options, struct rusage *ru), (status, options, ru))
PASS(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *ru),
     (pid, status, options, ru))
PASS(int, waitid, (idtype_t type, id_t id, siginfo_t *info, int options), (type, id, info, options))
PASS(int, dup, (int fd), (fd))
PASS(int, dup2, (int fd, int fd2), (fd, fd2))
PASS(int, dup3, (int fd, int fd2, int flags), (fd, fd2, flags))
PASS(int, poll, (struct pollfd *fds, nfds_t n, int timeout), (fds, n, timeout))
PASS(int, ppoll, (struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		  const sigset_t *mask), (fds, n, tmo, mask))
PASS(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo),
     (n, r, w, e, tmo))
PASS(int, pselect, (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		    const sigset_t *mask), (n, r, w, e, tmo, mask))
PASS(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev), (epfd, op, fd, ev))
PASS(int, epoll_wait, (int epfd, struct epoll_event *ev, int max, int timeout),
     (epfd, ev, max, timeout))
PASS(int, epoll_pwait, (int epfd, struct epoll_event *ev, int max, int timeout,
			const sigset_t *mask), (epfd, ev, max, timeout, mask))
PASS(int, epoll_pwait2, (int epfd, struct epoll_event *ev, int max, const struct timespec *timeout,
			 const sigset_t *mask), (epfd, ev, max, timeout, mask))
PASS(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off),
     (addr, len, prot, flags, fd, off))
PASS(off_t, lseek, (int fd, off_t off, int whence), (fd, off, whence))
PASS(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
/* Socket calls: the program's go through the wrappers (ENOTSOCK on a
 * dmasync fd), the library's own straight here. */
PASS(int, shutdown, (int fd, int how), (fd, how))
PASS(int, getsockopt, (int fd, int level, int name, void *val, socklen_t *len),
     (fd, level, name, val, len))
PASS(int, setsockopt, (int fd, int level, int name, const void *val, socklen_t len),
     (fd, level, name, val, len))
PASS(int, getsockname, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
PASS(int, getpeername, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
PASS(int, connect, (int fd, const struct sockaddr *addr, socklen_t len), (fd, addr, len))
PASS(int, bind, (int fd, const struct sockaddr *addr, socklen_t len), (fd, addr, len))
PASS(int, listen, (int fd, int backlog), (fd, backlog))
PASS(ssize_t, send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags))
PASS(ssize_t, sendto, (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
		       socklen_t len), (fd, buf, n, flags, addr, len))
PASS(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))
PASS(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags))
PASS(ssize_t, recvfrom, (int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			 socklen_t *len), (fd, buf, n, flags, addr, len))
PASS(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))
PASS(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
PASS(ssize_t, readlink, (const char *path, char *buf, size_t n), (path, buf, n))
PASS(ssize_t, readlinkat, (int dirfd, const char *path, char *buf, size_t n),
     (dirfd, path, buf, n))
PASS(int, stat, (const char *path, struct stat *st), (path, st))
PASS(int, lstat, (const char *path, struct stat *st), (path, st))
/*
 * The stat family, counted in dmasync_real_stat_depth (real.h): the next
 * library may call the preload's own stat functions back (fakeroot's
 * fstat() calls __fxstat()), and those must then answer as the file is.
 */
_Thread_local unsigned int dmasync_real_stat_depth __attribute__((tls_model("initial-exec")));

#define PASS_STAT(name, params, args)                                           \
	REAL(int, name, params, args)                                           \
	int dmasync_real_##name params                                          \
	{                                                                       \
		int r;                                                          \
                                                                                \
		dmasync_real_stat_depth++;                                      \
		r = CALL(name) args;                                            \
		dmasync_real_stat_depth--;                                      \
		return r;                                                       \
	}

PASS_STAT(fstat, (int fd, struct stat *st), (fd, st))
PASS_STAT(__fxstat, (int ver, int fd, struct stat *st), (ver, fd, st))
PASS_STAT(fstatat, (int dirfd, const char *path, struct stat *st, int flags),
	  (dirfd, path, st, flags))
PASS_STAT(statx, (int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx),
	  (dirfd, path, flags, mask, stx))
PASS(int, __xstat, (int ver, const char *path, struct stat *st), (ver, path, st))
PASS(int, __xstat64, (int ver, const char *path, struct stat64 *st), (ver, path, st))
PASS(int, __lxstat, (int ver, const char *path, struct stat *st), (ver, path, st))
PASS(int, __lxstat64, (int ver, const char *path, struct stat64 *st), (ver, path, st))
PASS_STAT(__fxstatat, (int ver, int dirfd, const char *path, struct stat *st, int flags),
	  (ver, dirfd, path, st, flags))
PASS_STAT(__fxstatat64, (int ver, int dirfd, const char *path, struct stat64 *st, int flags),
	  (ver, dirfd, path, st, flags))
PASS(int, access, (const char *path, int mode), (path, mode))
PASS(int, faccessat, (int dirfd, const char *path, int mode, int flags),
     (dirfd, path, mode, flags))
PASS(DIR *, opendir, (const char *path), (path))
PASS(DIR *, fdopendir, (int fd), (fd))
PASS(int, chdir, (const char *path), (path))
PASS(char *, getcwd, (char *buf, size_t size), (buf, size))
PASS(int, closedir, (DIR *dir), (dir))
PASS(struct dirent *, readdir, (DIR *dir), (dir))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"	/* readdir_r() */
PASS(int, readdir_r, (DIR *dir, struct dirent *entry, struct dirent **result),
     (dir, entry, result))
#pragma GCC diagnostic pop
PASS(int, fstatfs, (int fd, struct statfs *buf), (fd, buf))
PASS(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))
PASS(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))
PASS(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
PASS(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off))
PASS(ssize_t, preadv, (int fd, const struct iovec *iov, int n, off_t off), (fd, iov, n, off))
PASS(ssize_t, pwritev, (int fd, const struct iovec *iov, int n, off_t off), (fd, iov, n, off))
PASS(ssize_t, preadv2, (int fd, const struct iovec *iov, int n, off_t off, int flags),
     (fd, iov, n, off, flags))
PASS(ssize_t, pwritev2, (int fd, const struct iovec *iov, int n, off_t off, int flags),
     (fd, iov, n, off, flags))
PASS(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), (out, in, off, n))
PASS(ssize_t, splice, (int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
		       unsigned int flags), (in, off_in, out, off_out, n, flags))
PASS(int, ftruncate, (int fd, off_t len), (fd, len))
PASS(int, fallocate, (int fd, int mode, off_t off, off_t len), (fd, mode, off, len))
PASS(int, posix_fallocate, (int fd, off_t off, off_t len), (fd, off, len))
PASS(int, fsync, (int fd), (fd))
PASS(int, fdatasync, (int fd), (fd))
PASS(int, sync_file_range, (int fd, off_t off, off_t n, unsigned int flags), (fd, off, n, flags))
PASS(ssize_t, readahead, (int fd, off_t off, size_t n), (fd, off, n))
PASS(ssize_t, copy_file_range, (int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
				unsigned int flags), (in, off_in, out, off_out, n, flags))
PASS(ssize_t, tee, (int in, int out, size_t n, unsigned int flags), (in, out, n, flags))
PASS(ssize_t, fgetxattr, (int fd, const char *name, void *value, size_t size),
     (fd, name, value, size))
PASS(int, fsetxattr, (int fd, const char *name, const void *value, size_t size, int flags),
     (fd, name, value, size, flags))
PASS(int, fremovexattr, (int fd, const char *name), (fd, name))
PASS(ssize_t, flistxattr, (int fd, char *list, size_t size), (fd, list, size))
PASS(int, msync, (void *addr, size_t len, int flags), (addr, len, flags))
PASS(int, madvise, (void *addr, size_t len, int advice), (addr, len, advice))
PASS(int, mincore, (void *addr, size_t len, unsigned char *vec), (addr, len, vec))
PASS(ssize_t, vmsplice, (int fd, const struct iovec *iov, size_t n, unsigned int flags),
     (fd, iov, n, flags))
/* Variadic in libc: its optional new address always passed. */
typedef __typeof__(&mremap) mremap_fn;
static void *first_mremap(void *old, size_t old_len, size_t new_len, int flags, ...);
static mremap_fn dmasync_real_ptr_mremap = first_mremap;
static __attribute__((noinline, cold)) void *first_mremap(void *old, size_t old_len,
							  size_t new_len, int flags, ...)
{
	mremap_fn next = (mremap_fn)dlsym(RTLD_NEXT, "mremap");
	va_list ap;
	void *new_addr;

	va_start(ap, flags);
	new_addr = va_arg(ap, void *);
	va_end(ap);
	__atomic_store_n(&dmasync_real_ptr_mremap, next, __ATOMIC_RELEASE);
	return next(old, old_len, new_len, flags, new_addr);
}

void *dmasync_real_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return CALL(mremap)(old, old_len, new_len, flags, new_addr);
}

/* Declared only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t len);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t len);
PASS(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t len), (fd, buf, n, len))
PASS(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t off, size_t len),
     (fd, buf, n, off, len))
PASS(int, statfs, (const char *path, struct statfs *buf), (path, buf))
PASS(char *, realpath, (const char *path, char *resolved), (path, resolved))
PASS(FILE *, fopen, (const char *path, const char *mode), (path, mode))
PASS(int, fclose, (FILE *f), (f))

/* The 64-bit-offset names: the same functions on LP64 (real.syms renames
 * each name on its own). */
int dmasync_real_open64(const char *path, int flags, mode_t mode);
int dmasync_real_open64(const char *path, int flags, mode_t mode)
{
	return dmasync_real_open(path, flags, mode);
}

int dmasync_real_ftruncate64(int fd, off_t len);
int dmasync_real_ftruncate64(int fd, off_t len)
{
	return dmasync_real_ftruncate(fd, len);
}

int dmasync_real_fallocate64(int fd, int mode, off_t off, off_t len);
int dmasync_real_fallocate64(int fd, int mode, off_t off, off_t len)
{
	return dmasync_real_fallocate(fd, mode, off, len);
}

int dmasync_real_posix_fallocate64(int fd, off_t off, off_t len);
int dmasync_real_posix_fallocate64(int fd, off_t off, off_t len)
{
	return dmasync_real_posix_fallocate(fd, off, len);
}

int dmasync_real_openat64(int dirfd, const char *path, int flags, mode_t mode);
int dmasync_real_openat64(int dirfd, const char *path, int flags, mode_t mode)
{
	return dmasync_real_openat(dirfd, path, flags, mode);
}

int dmasync_real_fcntl64(int fd, int cmd, void *arg);
int dmasync_real_fcntl64(int fd, int cmd, void *arg)
{
	return dmasync_real_fcntl(fd, cmd, arg);
}

void *dmasync_real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *dmasync_real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return dmasync_real_mmap(addr, len, prot, flags, fd, off);
}

off_t dmasync_real_lseek64(int fd, off_t off, int whence);
off_t dmasync_real_lseek64(int fd, off_t off, int whence)
{
	return dmasync_real_lseek(fd, off, whence);
}

int dmasync_real_stat64(const char *path, struct stat *st);
int dmasync_real_stat64(const char *path, struct stat *st)
{
	return dmasync_real_stat(path, st);
}

int dmasync_real_lstat64(const char *path, struct stat *st);
int dmasync_real_lstat64(const char *path, struct stat *st)
{
	return dmasync_real_lstat(path, st);
}

int dmasync_real_fstat64(int fd, struct stat *st);
int dmasync_real_fstat64(int fd, struct stat *st)
{
	return dmasync_real_fstat(fd, st);
}

int dmasync_real___fxstat64(int ver, int fd, struct stat *st);
int dmasync_real___fxstat64(int ver, int fd, struct stat *st)
{
	return dmasync_real___fxstat(ver, fd, st);
}

int dmasync_real_fstatat64(int dirfd, const char *path, struct stat *st, int flags);
int dmasync_real_fstatat64(int dirfd, const char *path, struct stat *st, int flags)
{
	return dmasync_real_fstatat(dirfd, path, st, flags);
}

FILE *dmasync_real_fopen64(const char *path, const char *mode);
FILE *dmasync_real_fopen64(const char *path, const char *mode)
{
	return dmasync_real_fopen(path, mode);
}

/*
 * Resolve now, in the library's constructor, the functions POSIX lets a
 * signal handler call (and ioctl(), fcntl() and the epoll and socket calls
 * programs make there): resolving one on first use runs dlsym() in the
 * handler, which takes the loader's lock and may free() the previous
 * dlerror() string, in code the signal may have interrupted.  The others
 * stay lazy.  Each takes a lookup of ~0.1 us.
 */
#define PRIME(name)                                                             \
	do {                                                                    \
		name##_fn next = (name##_fn)dlsym(RTLD_NEXT, #name);            \
                                                                                \
		if (next)                                                       \
			__atomic_store_n(&dmasync_real_ptr_##name, next,        \
					 __ATOMIC_RELEASE);                     \
	} while (0)

void dmasync_real_prime(void)
{
	PRIME(open);
	PRIME(openat);
	PRIME(close);
	PRIME(close_range);
	PRIME(dup);
	PRIME(dup2);
	PRIME(dup3);
	PRIME(fcntl);
	PRIME(ioctl);
	PRIME(read);
	PRIME(write);
	PRIME(readv);
	PRIME(writev);
	PRIME(pread);
	PRIME(pwrite);
	PRIME(lseek);
	PRIME(pipe);
	PRIME(pipe2);
	PRIME(poll);
	PRIME(ppoll);
	PRIME(select);
	PRIME(pselect);
	PRIME(epoll_ctl);
	PRIME(epoll_wait);
	PRIME(eventfd);
	PRIME(socket);
	PRIME(socketpair);
	PRIME(accept);
	PRIME(accept4);
	PRIME(connect);
	PRIME(bind);
	PRIME(listen);
	PRIME(shutdown);
	PRIME(getsockopt);
	PRIME(setsockopt);
	PRIME(getsockname);
	PRIME(getpeername);
	PRIME(send);
	PRIME(sendto);
	PRIME(sendmsg);
	PRIME(recv);
	PRIME(recvfrom);
	PRIME(recvmsg);
	PRIME(wait);
	PRIME(waitpid);
	PRIME(wait3);
	PRIME(wait4);
	PRIME(waitid);
	PRIME(fstat);
	PRIME(fstatat);
	PRIME(stat);
	PRIME(lstat);
	PRIME(access);
	PRIME(faccessat);
	PRIME(readlink);
	PRIME(readlinkat);
	PRIME(ftruncate);
	PRIME(fsync);
	PRIME(fdatasync);
	PRIME(mmap);
}

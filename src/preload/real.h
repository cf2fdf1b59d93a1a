/* SPDX-License-Identifier: MIT */
/*
 * Private: libc's own functions, for the preload library (real.c).
 *
 * libdmasync-preload.so defines open(), close(), ioctl()... so that a
 * program's calls reach dmasync.  The library's own calls to those names
 * must reach libc instead, or every internal close() would come back into
 * the wrapper.  The build renames them in the library's objects
 * (objcopy --redefine-syms=real.syms: close -> dmasync_real_close) and
 * real.c resolves each dmasync_real_NAME to the next definition of NAME
 * after this library (dlsym(RTLD_NEXT)), lazily and once; the wrappers in
 * preload.c call them too.  Every function here has libc's signature and
 * errno behaviour.
 */
#ifndef DMASYNC_PRELOAD_REAL_H
#define DMASYNC_PRELOAD_REAL_H

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>

int dmasync_real_open(const char *path, int flags, ...);
int dmasync_real_openat(int dirfd, const char *path, int flags, ...);
/* The same with @mode passed as it is (0 unless @flags want one): no va_list. */
int dmasync_real_openat_mode(int dirfd, const char *path, int flags, mode_t mode);
int dmasync_real_close(int fd);
int dmasync_real_close_range(unsigned int lo, unsigned int hi, int flags);
void dmasync_real_closefrom(int lo);
pid_t dmasync_real_wait(int *status);
pid_t dmasync_real_waitpid(pid_t pid, int *status, int options);
pid_t dmasync_real_wait3(int *status, int options, struct rusage *ru);
pid_t dmasync_real_wait4(pid_t pid, int *status, int options, struct rusage *ru);
int dmasync_real_waitid(idtype_t type, id_t id, siginfo_t *info, int options);
int dmasync_real_dup(int fd);
int dmasync_real_dup2(int fd, int fd2);
int dmasync_real_dup3(int fd, int fd2, int flags);
int dmasync_real_fcntl(int fd, int cmd, ...);
int dmasync_real_ioctl(int fd, unsigned long request, ...);
/* The same two, without a second variadic call on the way. */
int dmasync_real_ioctl_ptr(int fd, unsigned long request, void *arg);
int dmasync_real_fcntl_ptr(int fd, int cmd, void *arg);
/* Calls that make fds, never ones of dmasync's. */
int dmasync_real_pipe(int fds[2]);
int dmasync_real_pipe2(int fds[2], int flags);
int dmasync_real_socket(int domain, int type, int protocol);
int dmasync_real_socketpair(int domain, int type, int protocol, int sv[2]);
int dmasync_real_accept(int fd, struct sockaddr *addr, socklen_t *len);
int dmasync_real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int dmasync_real_eventfd(unsigned int initval, int flags);
int dmasync_real_epoll_create(int size);
int dmasync_real_epoll_create1(int flags);
int dmasync_real_poll(struct pollfd *fds, nfds_t n, int timeout);
int dmasync_real_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		       const sigset_t *mask);
int dmasync_real_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo);
int dmasync_real_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
			 const sigset_t *mask);
int dmasync_real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int dmasync_real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int dmasync_real_epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
			     const sigset_t *mask);
int dmasync_real_epoll_pwait2(int epfd, struct epoll_event *ev, int max,
			       const struct timespec *timeout, const sigset_t *mask);
void *dmasync_real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
off_t dmasync_real_lseek(int fd, off_t off, int whence);
ssize_t dmasync_real_read(int fd, void *buf, size_t n);
int dmasync_real_shutdown(int fd, int how);
int dmasync_real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int dmasync_real_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int dmasync_real_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int dmasync_real_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int dmasync_real_connect(int fd, const struct sockaddr *addr, socklen_t len);
int dmasync_real_bind(int fd, const struct sockaddr *addr, socklen_t len);
int dmasync_real_listen(int fd, int backlog);
ssize_t dmasync_real_send(int fd, const void *buf, size_t n, int flags);
ssize_t dmasync_real_sendto(int fd, const void *buf, size_t n, int flags,
			    const struct sockaddr *addr, socklen_t len);
ssize_t dmasync_real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t dmasync_real_recv(int fd, void *buf, size_t n, int flags);
ssize_t dmasync_real_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			      socklen_t *len);
ssize_t dmasync_real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t dmasync_real_write(int fd, const void *buf, size_t n);
ssize_t dmasync_real_readlink(const char *path, char *buf, size_t n);
ssize_t dmasync_real_readlinkat(int dirfd, const char *path, char *buf, size_t n);
int dmasync_real_stat(const char *path, struct stat *st);
int dmasync_real_lstat(const char *path, struct stat *st);
int dmasync_real_fstat(int fd, struct stat *st);
int dmasync_real_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int dmasync_real_statx(int dirfd, const char *path, int flags, unsigned int mask,
		       struct statx *stx);
/*
 * glibc before 2.33 had programs call these for stat(), lstat() and
 * fstatat(); it still exports them (as compatibility versions) for the
 * binaries built then, and fakeroot's stat() calls them.  Its headers no
 * longer declare them.  @ver is 1 (_STAT_VER_LINUX) on x86-64.
 */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int dmasync_real___xstat(int ver, const char *path, struct stat *st);
int dmasync_real___xstat64(int ver, const char *path, struct stat64 *st);
int dmasync_real___lxstat(int ver, const char *path, struct stat *st);
int dmasync_real___lxstat64(int ver, const char *path, struct stat64 *st);
int dmasync_real___fxstat(int ver, int fd, struct stat *st);
int dmasync_real___fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int dmasync_real___fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st,
			      int flags);
/*
 * How many of the stat functions above (fstat, __fxstat, fstatat, statx,
 * __fxstatat, __fxstatat64: the calls on an fd) this thread is in.  Not
 * zero in a wrapper: the next library called it back (fakeroot's fstat()
 * calls __fxstat()), for the preload's own call or the library's, and the
 * answer must be the file's as it is.
 */
extern _Thread_local unsigned int dmasync_real_stat_depth;
int dmasync_real_access(const char *path, int mode);
int dmasync_real_faccessat(int dirfd, const char *path, int mode, int flags);
DIR *dmasync_real_opendir(const char *path);
DIR *dmasync_real_fdopendir(int fd);
int dmasync_real_chdir(const char *path);
char *dmasync_real_getcwd(char *buf, size_t size);
int dmasync_real_closedir(DIR *dir);
struct dirent *dmasync_real_readdir(DIR *dir);
int dmasync_real_readdir_r(DIR *dir, struct dirent *entry, struct dirent **result);
struct statfs;
int dmasync_real_fstatfs(int fd, struct statfs *buf);
struct iovec;
ssize_t dmasync_real_readv(int fd, const struct iovec *iov, int n);
ssize_t dmasync_real_writev(int fd, const struct iovec *iov, int n);
ssize_t dmasync_real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t dmasync_real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t dmasync_real_preadv(int fd, const struct iovec *iov, int n, off_t off);
ssize_t dmasync_real_pwritev(int fd, const struct iovec *iov, int n, off_t off);
ssize_t dmasync_real_preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags);
ssize_t dmasync_real_pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags);
ssize_t dmasync_real_sendfile(int out, int in, off_t *off, size_t n);
ssize_t dmasync_real_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
			    unsigned int flags);
ssize_t dmasync_real___read_chk(int fd, void *buf, size_t n, size_t len);
ssize_t dmasync_real___pread_chk(int fd, void *buf, size_t n, off_t off, size_t len);
int dmasync_real_statfs(const char *path, struct statfs *buf);
char *dmasync_real_realpath(const char *path, char *resolved);
FILE *dmasync_real_fopen(const char *path, const char *mode);
int dmasync_real_fclose(FILE *f);

int dmasync_real_ftruncate(int fd, off_t len);
int dmasync_real_fallocate(int fd, int mode, off_t off, off_t len);
int dmasync_real_posix_fallocate(int fd, off_t off, off_t len);
int dmasync_real_fsync(int fd);
int dmasync_real_fdatasync(int fd);
int dmasync_real_sync_file_range(int fd, off_t off, off_t n, unsigned int flags);
ssize_t dmasync_real_readahead(int fd, off_t off, size_t n);
ssize_t dmasync_real_copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
				     unsigned int flags);
ssize_t dmasync_real_tee(int in, int out, size_t n, unsigned int flags);
ssize_t dmasync_real_fgetxattr(int fd, const char *name, void *value, size_t size);
int dmasync_real_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
int dmasync_real_fremovexattr(int fd, const char *name);
ssize_t dmasync_real_flistxattr(int fd, char *list, size_t size);

int dmasync_real_msync(void *addr, size_t len, int flags);
int dmasync_real_madvise(void *addr, size_t len, int advice);
int dmasync_real_mincore(void *addr, size_t len, unsigned char *vec);
void *dmasync_real_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);

ssize_t dmasync_real_vmsplice(int fd, const struct iovec *iov, size_t n, unsigned int flags);

/*
 * The pointer behind each dmasync_real_NAME() (libc's NAME once resolved;
 * a resolving stub before), for the wrappers' fast paths on the program's
 * plain fds: DMASYNC_REAL_FAST(read)(fd, buf, n) jumps to libc from the
 * wrapper itself, a call and a code page fewer than dmasync_real_read()
 * (on a machine that flushes the TLB at every system call, each page
 * touched on the way costs a walk; bench/bench-preload.c).
 */
#define DMASYNC_REAL_FAST(name) (__atomic_load_n(&dmasync_real_ptr_##name, __ATOMIC_ACQUIRE))
extern int (*dmasync_real_ptr_close)(int fd);
extern int (*dmasync_real_ptr_dup)(int fd);
extern int (*dmasync_real_ptr_ioctl)(int fd, unsigned long request, ...);
extern int (*dmasync_real_ptr_fcntl)(int fd, int cmd, ...);
extern ssize_t (*dmasync_real_ptr_read)(int fd, void *buf, size_t n);
extern ssize_t (*dmasync_real_ptr_write)(int fd, const void *buf, size_t n);
extern off_t (*dmasync_real_ptr_lseek)(int fd, off_t off, int whence);
extern void *(*dmasync_real_ptr_mmap)(void *addr, size_t len, int prot, int flags, int fd,
				      off_t off);
extern int (*dmasync_real_ptr_poll)(struct pollfd *fds, nfds_t n, int timeout);

/*
 * dmasync_real_prime - resolve the async-signal-safe ones now (the
 * library's constructor), so that none is looked up in a signal handler.
 */
void dmasync_real_prime(void);

#endif

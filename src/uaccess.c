/* SPDX-License-Identifier: MIT */
/* copy_from_user()/copy_to_user(): see uaccess.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uaccess.h"

/*
 * Our pid, for process_vm_*(); refreshed in fork children.  0 means "not
 * known yet".  glibc no longer caches getpid(), so this saves a syscall.
 */
static pid_t self_pid;
/* process_vm_* refused with ENOSYS/EPERM once: use the pipe fallback. */
static bool use_pipe;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
	__atomic_store_n(&self_pid, 0, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

static pid_t my_pid(void)
{
	pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);

	if (!pid) {
		pthread_once(&atfork_once, register_atfork);
		pid = getpid();
		__atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

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
	while (n && !ret) {
		size_t chunk = n < 4096 ? n : 4096;
		ssize_t w = write(p[1], src, chunk), r;

		if (w <= 0) {
			ret = w < 0 && errno != EFAULT ? -errno : -EFAULT;
			break;
		}
		r = read(p[0], dst, (size_t)w);
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

	if (!n)
		return 0;
	if (__atomic_load_n(&use_pipe, __ATOMIC_RELAXED))
		return pipe_copy(to, from, n);
	local.iov_len = remote.iov_len = n;
	if (to_user) {
		local.iov_base = (void *)from;
		remote.iov_base = to;
		r = process_vm_writev(my_pid(), &local, 1, &remote, 1, 0);
	} else {
		local.iov_base = to;
		remote.iov_base = (void *)from;
		r = process_vm_readv(my_pid(), &local, 1, &remote, 1, 0);
	}
	if (r == (ssize_t)n)
		return 0;
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
		__atomic_store_n(&use_pipe, true, __ATOMIC_RELAXED);
		return pipe_copy(to, from, n);
	}
	/* EFAULT, or a partial transfer that stopped at a bad page. */
	return -EFAULT;
}

/* Test hook: force (or stop forcing) the pipe fallback. */
void dmasync_uaccess_force_pipe(bool on);
void dmasync_uaccess_force_pipe(bool on)
{
	__atomic_store_n(&use_pipe, on, __ATOMIC_RELAXED);
}

int copy_from_user(void *to, const void *from, size_t n)
{
	return vm_copy(to, from, n, false);
}

int copy_to_user(void *to, const void *from, size_t n)
{
	return vm_copy(to, from, n, true);
}

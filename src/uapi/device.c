/* SPDX-License-Identifier: MIT */
/* Emulated device nodes: see device.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device.h"
#include "fork.h"

_Thread_local const char *uapi_opener_comm;

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uapi_device *devices;

CORE_FORK_MUTEX_HANDLER(devices_fork, &devices_lock);

__attribute__((constructor)) static void devices_init(void)
{
	core_fork_register(CORE_FORK_DEVICES, &devices_fork);
}

void uapi_device_register(struct uapi_device *dev)
{
	pthread_mutex_lock(&devices_lock);
	dev->next = devices;
	devices = dev;
	pthread_mutex_unlock(&devices_lock);
}

struct uapi_device *uapi_device_find(const char *path)
{
	struct uapi_device *dev;

	pthread_mutex_lock(&devices_lock);
	for (dev = devices; dev; dev = dev->next)
		if (!strcmp(dev->path, path))
			break;
	pthread_mutex_unlock(&devices_lock);
	return dev;
}

static int make_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

/*
 * The open file's access mode, kept where every holder of the fd can read
 * it, as the kernel's f_mode: the file's word (uapi_file_word()), as
 * O_ACCMODE + 1.  Return: 0 or -1 with errno set.
 */
static int set_accmode(int fd, int flags)
{
	int r = uapi_file_set_word(fd, (flags & O_ACCMODE) + 1);

	if (r)
		errno = -r;
	return r ? -1 : 0;
}

int uapi_device_accmode(int fd)
{
	int v = uapi_file_word(fd);

	return v < 1 || v > O_ACCMODE + 1 ? O_RDWR : v - 1;
}

/* The open file's flags that F_SETFL can put on the socket too, as open()
 * keeps them in the kernel's file (O_NOATIME: the opener owns the node). */
#define FILE_FLAGS (O_NONBLOCK | O_APPEND | O_NOATIME)

/* The fd of a new open file in @sv[0] and the registry's end in @sv[1],
 * with @flags' O_CLOEXEC, FILE_FLAGS and access mode. */
static int make_fds(int flags, int sv[2])
{
	if (make_pair(sv) && (!uapi_files_reclaim_fds(errno) || make_pair(sv)))
		return -errno;
	if ((!(flags & O_CLOEXEC) && fcntl(sv[0], F_SETFD, 0)) ||
	    ((flags & FILE_FLAGS) && fcntl(sv[0], F_SETFL, flags & FILE_FLAGS)) ||
	    set_accmode(sv[0], flags) ||
	    shutdown(sv[1], SHUT_WR)) {
		int r = -errno;

		close(sv[0]);
		close(sv[1]);
		return r;
	}
	return 0;
}

int uapi_device_open(const struct uapi_device *dev, int flags)
{
	struct uapi_device_file *df;
	int sv[2], r;

	r = make_fds(flags, sv);
	if (r)
		return r;
	df = calloc(1, sizeof(*df));
	if (!df) {
		r = -ENOMEM;
		goto err_close_fds;
	}
	df->dev = dev;
	if (dev->open) {
		r = dev->open(df);
		if (r)
			goto err_free;
	}
	uapi_file_init(&df->file, dev->ops);
	r = uapi_file_install(&df->file, sv[0], sv[1], -1);
	if (r)
		goto err_release;
	/* The registry holds its own reference now. */
	uapi_file_put(&df->file);
	return sv[0];

err_release:
	if (dev->release)
		dev->release(df);
err_free:
	free(df);
err_close_fds:
	close(sv[0]);
	close(sv[1]);
	return r;
}

void uapi_device_file_release(struct uapi_file *file)
{
	struct uapi_device_file *df = to_device_file(file);

	if (df->dev->release)
		df->dev->release(df);
	free(df);
}

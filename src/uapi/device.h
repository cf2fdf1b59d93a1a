/* SPDX-License-Identifier: MIT */
/*
 * Private: emulated device nodes (device.c): /dev/udmabuf,
 * /dev/dma_heap/system and the sw_sync debugfs file.  dmasync_open() of a
 * node's path (entry.c) makes a new open file of the node, as the kernel's
 * open() of a character device makes a struct file: an object, registered
 * with the fd registry, behind a new fd.
 *
 * Its fd is one end of an AF_UNIX socketpair, made first (so EMFILE comes
 * before any other error, as in the kernel), with O_CLOEXEC and O_NONBLOCK
 * as asked.  The other end, shut down for writing, is the registry's
 * (file.h): it reports the hang-up when the last copy of the fd is closed
 * in any process, and the open file is released then (the sw_sync file's
 * timeline signals its pending points).  The fd polls readable and
 * writable, as a kernel file without a poll method does.
 */
#ifndef DMASYNC_PRIV_DEVICE_H
#define DMASYNC_PRIV_DEVICE_H

#include <stdbool.h>
#include "file.h"

struct uapi_device_file;

struct uapi_device {
	const char *path;
	/* The ops of its open files: .release must be uapi_device_file_release. */
	const struct uapi_file_ops *ops;
	/* Optional: set up a new open file's state in @df->priv, after its fd
	 * exists.  Return: 0 or a negative errno. */
	int (*open)(struct uapi_device_file *df);
	/* Optional: release what .open set up. */
	void (*release)(struct uapi_device_file *df);
	struct uapi_device *next;
};

/* An open file of a device node. */
struct uapi_device_file {
	struct uapi_file file;	/* first: the registry object */
	const struct uapi_device *dev;
	void *priv;		/* the node's per-open state, or NULL */
};

static inline struct uapi_device_file *to_device_file(struct uapi_file *file)
{
	return container_of(file, struct uapi_device_file, file);
}

/*
 * The name of the thread an open is for, when the broker opens on a
 * client's behalf (a sw_sync timeline is named after its opener's comm);
 * NULL: the calling thread's own.
 */
extern _Thread_local const char *uapi_opener_comm;

/* Emulate @dev (static storage) from now on; from a constructor. */
void uapi_device_register(struct uapi_device *dev);

/* The device emulated at @path, or NULL.  Devices are never unregistered. */
struct uapi_device *uapi_device_find(const char *path);

/* Open @dev with @flags (open(2)'s).  Return: the new fd, or a negative errno. */
int uapi_device_open(const struct uapi_device *dev, int flags);

/*
 * uapi_device_accmode - the access mode (O_RDONLY, O_WRONLY, O_RDWR or 3) the
 * open file behind @fd, a device node's fd in any process, was opened
 * with; O_RDWR if @fd is not one.  One system call; borrows @fd.
 */
int uapi_device_accmode(int fd);

/* The .release op of every node's open files. */
void uapi_device_file_release(struct uapi_file *file);

#endif

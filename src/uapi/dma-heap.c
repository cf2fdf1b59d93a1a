/* SPDX-License-Identifier: MIT */
/*
 * /dev/dma_heap/system: DMA_HEAP_IOCTL_ALLOC of fresh, zeroed memory, with
 * Linux's argument decoding and errno.
 *
 * A buffer is a memfd of exactly the page-rounded length (dma_buf_export()),
 * opened with the access mode given in fd_flags, so plain mmap() works on
 * it.  The device fd is an AF_UNIX socket recognised by the fd registry.
 *
 * Request decoding follows drivers/dma-buf/dma-heap.c: the request number
 * alone selects the command (numbers other than 0 are EINVAL, not ENOTTY),
 * and the argument is copied in and out with the sizes and directions the
 * caller's request code gives, zero-filled up to the kernel's struct.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dma-heap.h>

#include <dmasync/dmasync-uapi.h>
#include "debug.h"
#include "device.h"
#include "dma-buf-priv.h"
#include "uaccess.h"

#ifndef IOC_IN
#define IOC_IN (_IOC_WRITE << _IOC_DIRSHIFT)
#define IOC_OUT (_IOC_READ << _IOC_DIRSHIFT)
#endif

#define PAGE DMABUF_PAGE_SIZE

static void system_heap_release(struct dma_buf *dmabuf)
{
}

static const struct dma_buf_ops system_heap_ops = {
	.release = system_heap_release,
};

/* dma_buf_export() wants a private pointer; the system heap has nothing. */
static char system_heap_priv;

static long heap_allocate(struct dma_heap_allocation_data *data)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *buf;
	u64 len;
	int fd;

	if (data->fd)
		return -EINVAL;
	if (data->fd_flags & ~(u32)DMA_HEAP_VALID_FD_FLAGS)
		return -EINVAL;
	if (data->heap_flags & ~(u64)DMA_HEAP_VALID_HEAP_FLAGS)
		return -EINVAL;
	/* Page-aligned; a length that wraps around is 0 too. */
	len = (data->len + PAGE - 1) & ~(u64)(PAGE - 1);
	if (!len)
		return -EINVAL;
	if (len > (u64)SIZE_MAX)
		return -ENOMEM;
	info.exp_name = "system";
	info.ops = &system_heap_ops;
	info.size = (size_t)len;
	info.flags = (int)(data->fd_flags & O_ACCMODE);
	info.priv = &system_heap_priv;
	buf = dma_buf_export(&info);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	fd = dma_buf_fd(buf, (int)(data->fd_flags & O_CLOEXEC));
	if (fd < 0) {
		dma_buf_put(buf);
		return fd;
	}
	data->fd = (u32)fd;
	return 0;
}

static long heap_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	const unsigned int kcmd = DMA_HEAP_IOCTL_ALLOC;
	unsigned int ucmd = (unsigned int)request;
	unsigned int in_size, out_size, ksize;
	struct dma_heap_allocation_data data;
	char *kdata;
	long r;

	if (_IOC_NR(ucmd) >= 1)
		return -EINVAL;
	out_size = _IOC_SIZE(ucmd);
	in_size = out_size;
	if (!(ucmd & kcmd & IOC_IN))
		in_size = 0;
	if (!(ucmd & kcmd & IOC_OUT))
		out_size = 0;
	ksize = in_size > out_size ? in_size : out_size;
	if (ksize < _IOC_SIZE(kcmd))
		ksize = _IOC_SIZE(kcmd);
	kdata = calloc(1, ksize);
	if (!kdata)
		return -ENOMEM;
	if (copy_from_user(kdata, arg, in_size)) {
		free(kdata);
		return -EFAULT;
	}
	memcpy(&data, kdata, sizeof(data));
	r = heap_allocate(&data);
	if (!r) {
		memcpy(kdata, &data, sizeof(data));
		/*
		 * Linux leaves the new fd installed when the result cannot be
		 * copied out (or is not copied out at all, for request codes
		 * without the read direction); the program could never close
		 * it.  dmasync releases the buffer instead.
		 */
		if (out_size < offsetof(struct dma_heap_allocation_data, fd) + sizeof(data.fd))
			dmasync_close((int)data.fd);
	}
	if (copy_to_user(arg, kdata, out_size)) {
		if (!r && out_size >= offsetof(struct dma_heap_allocation_data, fd) + sizeof(data.fd))
			dmasync_close((int)data.fd);
		r = -EFAULT;
	}
	free(kdata);
	return r;
}

static const struct uapi_file_ops heap_dev_ops = {
	.name = "dma_heap-system",
	.ioctl = heap_ioctl,
	.epoll_ctl = uapi_file_epoll_ctl_no_poll,
	.release = uapi_device_file_release,
};

static struct uapi_device heap_device = {
	.path = "/dev/dma_heap/system",
	.ops = &heap_dev_ops,
};

__attribute__((constructor)) static void heap_register(void)
{
	uapi_device_register(&heap_device);
}

/* SPDX-License-Identifier: MIT */
/*
 * The emulated /sys/kernel/debug/sync/sw_sync device: opening it creates a
 * software timeline (sw_sync.c) behind a real fd, driven with the kernel's
 * SW_SYNC_IOC_CREATE_FENCE, SW_SYNC_IOC_INC and SW_SYNC_GET_DEADLINE.
 *
 * The fd is one end of an AF_UNIX stream socketpair, like a sync file
 * (sync_file.c), whose other end the registry watches: closing the last
 * copy of the fd destroys the timeline, which signals every pending point
 * with -ENOENT.  The kernel's file has no poll method, so it always polls
 * readable and writable; ours does too, because our end is shut down for
 * writing at once (A reads end of file) and A's send buffer stays empty.
 *
 * The timeline is named after the opening thread's comm, as the kernel's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dmasync/sw_sync.h>
#include <dmasync/sync_file.h>
#include "file.h"
#include "sw_sync_uapi.h"
#include "sync_file-priv.h"
#include "uaccess.h"

struct sw_sync_file {
	struct uapi_file file;	/* first: the registry object */
	struct sync_timeline *tl;	/* the creator's reference */
};

static inline struct sync_timeline *file_timeline(struct uapi_file *file)
{
	return container_of(file, struct sw_sync_file, file)->tl;
}

static long sw_sync_ioctl_create_fence(struct sync_timeline *tl, void *arg)
{
	struct sw_sync_create_fence_data data;
	struct sync_file *sf;
	struct dma_fence *pt;
	long ret;

	/* The fd first, as the kernel: EMFILE beats EFAULT. */
	sf = sync_file_alloc();
	if (!sf)
		return -errno;
	if (copy_from_user(&data, arg, sizeof(data))) {
		ret = -EFAULT;
		goto fail;
	}
	/* data.name is ignored, as by the kernel. */
	pt = sync_pt_create(tl, data.value);
	if (!pt) {
		ret = -ENOMEM;
		goto fail;
	}
	sync_file_set_fence(sf, pt);
	dma_fence_put(pt);

	return sync_file_publish(sf, arg, &data, sizeof(data), &data.fence);

fail:
	sync_file_discard(sf);
	return ret;
}

static long sw_sync_ioctl_inc(struct sync_timeline *tl, void *arg)
{
	__u32 value;

	if (copy_from_user(&value, arg, sizeof(value)))
		return -EFAULT;
	/* Applied in steps of at most INT_MAX, like the kernel's loop. */
	sync_timeline_signal(tl, value);
	return 0;
}

static long sw_sync_ioctl_get_deadline(void *arg)
{
	struct sw_sync_get_deadline data;
	struct dma_fence *fence;
	ktime_t deadline;
	int ret;

	if (copy_from_user(&data, arg, sizeof(data)))
		return -EFAULT;
	if (data.deadline_ns || data.pad)
		return -EINVAL;
	fence = sync_file_get_fence(data.fence_fd);
	if (!fence)
		return -EINVAL;
	/* Any sw_sync point will do, not only this timeline's (as the kernel). */
	ret = sync_pt_get_deadline(fence, &deadline);
	dma_fence_put(fence);
	if (ret)
		return ret;
	data.deadline_ns = (__u64)ktime_to_ns(deadline);
	return copy_to_user(arg, &data, sizeof(data)) ? -EFAULT : 0;
}

static long sw_sync_ioctl(struct uapi_file *file, int fd, unsigned long request, void *arg)
{
	switch (request) {
	case SW_SYNC_IOC_CREATE_FENCE:
		return sw_sync_ioctl_create_fence(file_timeline(file), arg);
	case SW_SYNC_IOC_INC:
		return sw_sync_ioctl_inc(file_timeline(file), arg);
	case SW_SYNC_GET_DEADLINE:
		return sw_sync_ioctl_get_deadline(arg);
	default:
		return -ENOTTY;
	}
}

/* For poll wrappers: the kernel's default mask of a file without poll. */
static short sw_sync_poll(struct uapi_file *file, short events)
{
	return (short)(events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
}

static void sw_sync_release(struct uapi_file *file)
{
	struct sw_sync_file *swf = container_of(file, struct sw_sync_file, file);

	/* Pending points signal with -ENOENT, as when the kernel's file closes. */
	sync_timeline_destroy(swf->tl);
	free(swf);
}

static const struct uapi_file_ops sw_sync_file_ops = {
	.name = "sw_sync",
	.ioctl = sw_sync_ioctl,
	.poll = sw_sync_poll,
	.release = sw_sync_release,
};

static int sw_sync_open(const char *path, int flags)
{
	char comm[17] = "";
	struct sw_sync_file *swf;
	int sv[2], r;

	/* The fd first: EMFILE/ENFILE before anything else can fail. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) &&
	    ((errno != EMFILE && errno != ENFILE) || !uapi_files_drain() ||
	     socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)))
		return -errno;
	if ((!(flags & O_CLOEXEC) && fcntl(sv[0], F_SETFD, 0)) ||
	    ((flags & O_NONBLOCK) && fcntl(sv[0], F_SETFL, O_NONBLOCK)) ||
	    shutdown(sv[1], SHUT_WR)) {
		r = -errno;
		goto fail_close;
	}
	swf = calloc(1, sizeof(*swf));
	if (!swf) {
		r = -ENOMEM;
		goto fail_close;
	}
	prctl(PR_GET_NAME, comm);
	swf->tl = sync_timeline_create(comm);
	if (!swf->tl) {
		r = -ENOMEM;
		goto fail_free;
	}
	uapi_file_init(&swf->file, &sw_sync_file_ops);
	r = uapi_file_install(&swf->file, sv[0], sv[1], -1);
	if (r) {
		sync_timeline_destroy(swf->tl);
		goto fail_free;
	}
	/* The registry holds its own reference now. */
	uapi_file_put(&swf->file);
	return sv[0];

fail_free:
	free(swf);
fail_close:
	close(sv[0]);
	close(sv[1]);
	return r;
}

static struct uapi_device sw_sync_device = {
	.path = SW_SYNC_DEVICE_PATH,
	.open = sw_sync_open,
};

__attribute__((constructor)) static void sw_sync_device_register(void)
{
	uapi_device_register(&sw_sync_device);
}

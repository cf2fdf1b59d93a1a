/* SPDX-License-Identifier: MIT */
/*
 * The emulated /sys/kernel/debug/sync/sw_sync device: opening it creates a
 * software timeline (core/sw_sync.c) behind a real fd, driven with the
 * kernel's SW_SYNC_IOC_CREATE_FENCE, SW_SYNC_IOC_INC and
 * SW_SYNC_GET_DEADLINE.
 *
 * A device node with state (device.h): closing the last copy of the fd
 * destroys the timeline, which signals every pending point with -ENOENT.
 * The kernel's file has no poll method, so it always polls readable and
 * writable; ours does too.
 */
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>

#include <dmasync/sw_sync.h>
#include <dmasync/sync_file.h>
#include "device.h"
#include "sw_sync-priv.h"
#include "sw_sync_dev.h"
#include "file.h"
#include "sw_sync_uapi.h"
#include "sync_file-priv.h"
#include "uaccess.h"

/* An open file's timeline (its per-open state: the creator's reference). */
static inline struct sync_timeline *file_timeline(struct uapi_file *file)
{
	return to_device_file(file)->priv;
}

static long sw_sync_ioctl_create_fence(struct sync_timeline *tl, void *arg)
{
	struct sw_sync_create_fence_data data;
	struct sync_file *sf;
	struct dma_fence *pt;
	long ret;

	/* The fd first, as the kernel: EMFILE beats EFAULT. */
	sf = sync_file_alloc();
	if (IS_ERR(sf))
		return PTR_ERR(sf);
	if (copy_from_user(&data, arg, sizeof(data))) {
		ret = -EFAULT;
		goto err_discard;
	}
	/* data.name is ignored, as by the kernel. */
	pt = sync_pt_create(tl, data.value);
	if (!pt) {
		ret = -ENOMEM;
		goto err_discard;
	}
	sync_file_set_fence(sf, pt);
	dma_fence_put(pt);

	return sync_file_publish(sf, arg, &data, sizeof(data), &data.fence);

err_discard:
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

static void show_point(struct dma_fence *pt, void *arg)
{
	fprintf(arg, "point\t%llu\t%d\t%lld\n", (unsigned long long)pt->seqno,
		dma_fence_get_status_locked(pt), (long long)core_sync_pt_created(pt));
}

/* The listing (file.h, "DOC: object listing"): name, value, pending points. */
static void sw_sync_show(struct uapi_file *file, FILE *out)
{
	struct sync_timeline *tl = file_timeline(file);
	char clean[UAPI_SHOW_STR_MAX];

	fprintf(out, "\t%s\t%u\t%llu\n", uapi_show_str(sync_timeline_name(tl), clean, sizeof(clean)),
		sync_timeline_value(tl), (unsigned long long)sync_timeline_context(tl));
	core_sync_timeline_for_each_pending(tl, show_point, out);
}

const struct uapi_file_ops uapi_sw_sync_file_ops = {
	.name = "sw_sync",
	.ioctl = sw_sync_ioctl,
	.poll = sw_sync_poll,
	.epoll_ctl = uapi_file_epoll_ctl_no_poll,
	.show = sw_sync_show,
	.release = uapi_device_file_release,
};

struct sync_timeline *uapi_sw_sync_timeline(struct uapi_file *file)
{
	if (file->ops != &uapi_sw_sync_file_ops)
		return NULL;
	return sync_timeline_get(file_timeline(file));
}

/* The timeline is named after the opening thread's comm, as the kernel's. */
static int sw_sync_open(struct uapi_device_file *df)
{
	char comm[17] = "";

	if (uapi_opener_comm)
		snprintf(comm, sizeof(comm), "%s", uapi_opener_comm);
	else
		prctl(PR_GET_NAME, comm);
	df->priv = sync_timeline_create(comm);
	return df->priv ? 0 : -ENOMEM;
}

static void sw_sync_release(struct uapi_device_file *df)
{
	/* Pending points signal with -ENOENT, as when the kernel's file closes. */
	sync_timeline_destroy(df->priv);
}

static struct uapi_device sw_sync_device = {
	.path = SW_SYNC_DEVICE_PATH,
	.ops = &uapi_sw_sync_file_ops,
	.open = sw_sync_open,
	.release = sw_sync_release,
};

__attribute__((constructor)) static void sw_sync_device_register(void)
{
	uapi_device_register(&sw_sync_device);
}

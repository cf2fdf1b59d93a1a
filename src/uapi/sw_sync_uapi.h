/* SPDX-License-Identifier: MIT */
/*
 * Private: the ioctl ABI of the kernel's sw_sync debugfs file.
 *
 * The sw_sync requests are defined inside the kernel's driver, not in a
 * uapi header (libsync and IGT carry their own copies), so dmasync defines
 * them here with the kernel's layouts and request codes.
 * SW_SYNC_GET_DEADLINE appeared in Linux 6.4.
 */
#ifndef DMASYNC_PRIV_SW_SYNC_UAPI_H
#define DMASYNC_PRIV_SW_SYNC_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Path of the emulated device. */
#define SW_SYNC_DEVICE_PATH "/sys/kernel/debug/sync/sw_sync"

/**
 * struct sw_sync_create_fence_data - argument of SW_SYNC_IOC_CREATE_FENCE.
 * @value: the timeline value the new point signals at
 * @name: ignored by the kernel (and by dmasync)
 * @fence: out: the new sync file fd (O_CLOEXEC)
 */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};

/**
 * struct sw_sync_get_deadline - argument of SW_SYNC_GET_DEADLINE.
 * @deadline_ns: must be 0 in; out: the earliest deadline set on the point
 * @pad: must be 0
 * @fence_fd: a sync file whose fence is an sw_sync point
 */
struct sw_sync_get_deadline {
	__u64 deadline_ns;
	__u32 pad;
	__s32 fence_fd;
};

#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)
#define SW_SYNC_GET_DEADLINE _IOWR(SW_SYNC_IOC_MAGIC, 2, struct sw_sync_get_deadline)

#endif

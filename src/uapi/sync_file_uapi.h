/* SPDX-License-Identifier: MIT */
/*
 * Private: <linux/sync_file.h> as of Linux 6.4.  SYNC_IOC_SET_DEADLINE
 * appeared in 6.4; older headers (Debian 12 ships 6.1) lack it, so dmasync
 * defines it here with the kernel's layout and request code.
 */
#ifndef DMASYNC_PRIV_SYNC_FILE_UAPI_H
#define DMASYNC_PRIV_SYNC_FILE_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/sync_file.h>

#ifndef SYNC_IOC_SET_DEADLINE
/**
 * struct sync_set_deadline - argument of SYNC_IOC_SET_DEADLINE (Linux 6.4+).
 * @deadline_ns: absolute CLOCK_MONOTONIC time
 * @pad: must be 0
 */
struct sync_set_deadline {
	__u64 deadline_ns;
	__u64 pad;
};
#define SYNC_IOC_SET_DEADLINE _IOW(SYNC_IOC_MAGIC, 5, struct sync_set_deadline)
#endif

#endif

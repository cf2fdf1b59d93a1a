/* SPDX-License-Identifier: MIT */
/* Private: helpers shared by the tests that drive the sw_sync device and
 * sync files through the UAPI entry points. */
#ifndef DMASYNC_UAPI_TEST_H
#define DMASYNC_UAPI_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmasync/dmasync-uapi.h>
#include "sw_sync_uapi.h"

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A new timeline from the emulated sw_sync device (aborts on failure). */
static inline int open_tl(void)
{
	int fd = dmasync_open(SW_SYNC_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		abort();
	return fd;
}

/* SW_SYNC_IOC_CREATE_FENCE at @value: the sync file fd, or -1 with errno. */
static inline int create_fence(int tl, u32 value)
{
	struct sw_sync_create_fence_data d;

	memset(&d, 0, sizeof(d));
	d.value = value;
	d.fence = -1;
	if (dmasync_ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &d))
		return -1;
	return d.fence;
}

#endif

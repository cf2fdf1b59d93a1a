/* SPDX-License-Identifier: MIT */
/*
 * The kernel's sw_sync ioctls (drivers/dma-buf/sw_sync.c declares them;
 * no installed header does), for the preload's test programs: plain Linux
 * programs that use no dmasync header.
 */
#ifndef DMASYNC_TESTS_SW_SYNC_ABI_H
#define DMASYNC_TESTS_SW_SYNC_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

struct sw_sync_create_fence_data {
	uint32_t value;
	char name[32];
	int32_t fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, uint32_t)

#endif

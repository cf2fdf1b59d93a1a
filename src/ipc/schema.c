/* SPDX-License-Identifier: MIT */
/* The shapes of ioctl arguments: see schema.h. */
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>

#include "schema.h"
#include "sw_sync_uapi.h"

#ifndef DMA_BUF_SET_NAME_A
#define DMA_BUF_SET_NAME_A _IOW(DMA_BUF_BASE, 1, __u32)
#define DMA_BUF_SET_NAME_B _IOW(DMA_BUF_BASE, 1, __u64)
#endif

static const struct schema_layout generic = { .region = REGION_IOC };

static const struct schema_layout merge = {
	.region = REGION_IOC,
	.fd_first = 1,
	.n_in_fds = 1, .in_fd = { offsetof(struct sync_merge_data, fd2) },
	.n_out_fds = 1, .out_fd = { offsetof(struct sync_merge_data, fence) },
};

static const struct schema_layout file_info = {
	.region = REGION_IOC,
	.array_ptr = offsetof(struct sync_file_info, sync_fence_info),
	.array_count = offsetof(struct sync_file_info, num_fences),
	.array_elem = sizeof(struct sync_fence_info),
};

static const struct schema_layout create_fence = {
	.region = REGION_IOC,
	.fd_first = 1,
	.n_out_fds = 1, .out_fd = { offsetof(struct sw_sync_create_fence_data, fence) },
};

static const struct schema_layout get_deadline = {
	.region = REGION_IOC,
	.n_in_fds = 1, .in_fd = { offsetof(struct sw_sync_get_deadline, fence_fd) },
};

static const struct schema_layout export_sync_file = {
	.region = REGION_IOC,
	.n_out_fds = 1, .out_fd = { offsetof(struct dma_buf_export_sync_file, fd) },
};

static const struct schema_layout import_sync_file = {
	.region = REGION_IOC,
	.n_in_fds = 1, .in_fd = { offsetof(struct dma_buf_import_sync_file, fd) },
};

static const struct schema_layout set_name = {
	.region = REGION_STRING,
	.max = DMA_BUF_NAME_LEN,
};

static const struct schema_layout udmabuf_create = {
	.region = REGION_IOC,
	.n_in_fds = 1, .in_fd = { offsetof(struct udmabuf_create, memfd) },
	.ret_fd = 1,
};

static const struct schema_layout udmabuf_create_list = {
	.region = REGION_UDMABUF_LIST,
	.ret_fd = 1,
};

/* Any request numbered 0 allocates (the kernel indexes its table by nr). */
static const struct schema_layout heap_alloc = {
	.region = REGION_IOC,
	.n_out_fds = 1, .out_fd = { offsetof(struct dma_heap_allocation_data, fd) },
};

const struct schema_layout *schema_lookup(enum ipc_kind kind, uint32_t request)
{
	switch (kind) {
	case IPC_KIND_SYNC_FILE:
		if (request == SYNC_IOC_MERGE)
			return &merge;
		if (request == SYNC_IOC_FILE_INFO)
			return &file_info;
		break;
	case IPC_KIND_TIMELINE:
		if (request == SW_SYNC_IOC_CREATE_FENCE)
			return &create_fence;
		if (request == SW_SYNC_GET_DEADLINE)
			return &get_deadline;
		break;
	case IPC_KIND_DMA_BUF:
		if (request == DMA_BUF_IOCTL_EXPORT_SYNC_FILE)
			return &export_sync_file;
		if (request == DMA_BUF_IOCTL_IMPORT_SYNC_FILE)
			return &import_sync_file;
		if (request == DMA_BUF_SET_NAME_A || request == DMA_BUF_SET_NAME_B)
			return &set_name;
		break;
	case IPC_KIND_UDMABUF_DEV:
		if (request == UDMABUF_CREATE)
			return &udmabuf_create;
		if (request == UDMABUF_CREATE_LIST)
			return &udmabuf_create_list;
		break;
	case IPC_KIND_HEAP_DEV:
		if (_IOC_NR(request) == 0)
			return &heap_alloc;
		break;
	default:
		break;
	}
	return &generic;
}

uint32_t schema_ioc_in(uint32_t request)
{
	return (_IOC_DIR(request) & _IOC_WRITE) ? _IOC_SIZE(request) : 0;
}

uint32_t schema_ioc_out(uint32_t request)
{
	return (_IOC_DIR(request) & _IOC_READ) ? _IOC_SIZE(request) : 0;
}

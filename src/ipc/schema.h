/* SPDX-License-Identifier: MIT */
/*
 * Private: the shape of every ioctl argument the UAPI has, as the client
 * and the broker must both know it to move a request between processes
 * (docs/design.md, "Protocol"): how many bytes of the caller's memory the
 * handler may read and write, which fields hold fds going in or coming out,
 * and the one nested array (FILE_INFO's).  Requests it does not describe
 * move as _IOC_DIR/_IOC_SIZE say, which is what the kernel's own generic
 * ioctl path assumes, and the engine answers them (ENOTTY).
 */
#ifndef DMASYNC_IPC_SCHEMA_H
#define DMASYNC_IPC_SCHEMA_H

#include <stdint.h>

#include "ipc.h"

#define SCHEMA_MAX_FD_FIELDS 4

enum schema_region {
	REGION_IOC,	/* _IOC_SIZE bytes in (if _IOC_WRITE) and out (if _IOC_READ) */
	REGION_STRING,	/* a NUL-terminated string of at most @max bytes, in */
	REGION_UDMABUF_LIST, /* struct udmabuf_create_list and its items, in */
};

struct schema_layout {
	enum schema_region region;
	uint32_t max;			/* REGION_STRING */
	/* Fields holding an fd (s32/u32 at these offsets of the region). */
	uint8_t n_in_fds, n_out_fds;
	uint16_t in_fd[SCHEMA_MAX_FD_FIELDS];
	uint16_t out_fd[SCHEMA_MAX_FD_FIELDS];
	/* The ioctl's return value is a new fd (udmabuf). */
	uint8_t ret_fd;
	/* The kernel reserves the new fd before it looks at the argument, so
	 * a caller out of fds gets EMFILE whatever else is wrong. */
	uint8_t fd_first;
	/* FILE_INFO: u64 user pointer at @array_ptr, u32 count at
	 * @array_count, elements of @array_elem bytes, written by the handler. */
	uint16_t array_ptr, array_count, array_elem;
};

/*
 * schema_lookup - the layout of @request on an object of @kind; never NULL
 * (a generic layout for requests with nothing special).  For
 * REGION_UDMABUF_LIST the in-fd fields are the items' (see
 * schema_list_fds()).
 */
const struct schema_layout *schema_lookup(enum ipc_kind kind, uint32_t request);

/* _IOC_SIZE bytes of @request going in and out (0 if not that direction). */
uint32_t schema_ioc_in(uint32_t request);
uint32_t schema_ioc_out(uint32_t request);

/* The largest udmabuf list the kernel reads (list_limit). */
#define SCHEMA_UDMABUF_LIST_LIMIT 1024u
#define SCHEMA_UDMABUF_HEAD 8u
#define SCHEMA_UDMABUF_ITEM 24u

#endif

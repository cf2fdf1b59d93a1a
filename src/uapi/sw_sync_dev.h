/* SPDX-License-Identifier: MIT */
/* Private: what the layers above see of the sw_sync device's files. */
#ifndef DMASYNC_UAPI_SW_SYNC_DEV_H
#define DMASYNC_UAPI_SW_SYNC_DEV_H

#include "file.h"

struct sync_timeline;

/*
 * uapi_sw_sync_timeline - the timeline behind @file, with a reference
 * (sync_timeline_put()), or NULL if @file is not an open sw_sync device.
 * The caller holds a reference to @file.
 */
struct sync_timeline *uapi_sw_sync_timeline(struct uapi_file *file);

/* The sw_sync device's files, for uapi_file_for_each(). */
extern const struct uapi_file_ops uapi_sw_sync_file_ops;

#endif

/* SPDX-License-Identifier: MIT */
/*
 * present-client's GPU back-ends: a simulated queue on a sw_sync timeline,
 * and Mesa's lavapipe through Vulkan.  Both render frame images into
 * exportable dma-bufs and hand out their render-done fences as sync files.
 */
#ifndef PRESENT_GPU_H
#define PRESENT_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define NBUFFERS 3

struct gpu_config {
	unsigned int width, height;	/* pixels; the plane has height + 1 rows */
	double gpu_ms;			/* simulated: render cost per frame */
	unsigned int vk_passes;		/* lavapipe: copies per frame */
	bool hold;			/* no-sync: stall half-written */
	bool dummy_submit;		/* every render is followed by a dummy submit */
	double hold_ms;
	const char *alloc;		/* simulated: "udmabuf" or "heap" */
	long timeout_ms;
};

struct gpu_buffer {
	int fd;				/* the dma-buf */
	unsigned int offset, stride;
	size_t size;
};

struct gpu {
	const struct gpu_ops *ops;
	struct gpu_config cfg;
	struct gpu_buffer buf[NBUFFERS];
	void *priv;
};

struct gpu_ops {
	const char *name;
	/* Make the buffers; fills gpu->buf. */
	int (*init)(struct gpu *g);
	/* The client's CPU part of a frame (lavapipe: fill the upload). */
	void (*prepare)(struct gpu *g, unsigned int b, uint32_t frame);
	/*
	 * Queue the render of @frame into buffer @b after @dep_fd (a sync
	 * file, consumed; -1 for none).  @implicit: attach the job's fence to
	 * the dma-buf as a writer, as a kernel driver with implicit sync does
	 * for the buffers a submit writes.  @out_fd: the render-done sync
	 * file, or NULL.  Returns 0 or a negative errno.
	 */
	int (*render)(struct gpu *g, unsigned int b, uint32_t frame, int dep_fd, bool implicit,
		      int *out_fd);
	/* The dummy submit: an empty job after the render, attached as writer of @b. */
	int (*dummy)(struct gpu *g, unsigned int b, uint32_t frame);
	/* Wait for the queue to drain, write the queue's records, free. */
	void (*finish)(struct gpu *g);
};

extern const struct gpu_ops gpu_sim_ops;
extern const struct gpu_ops gpu_vk_ops;

#endif

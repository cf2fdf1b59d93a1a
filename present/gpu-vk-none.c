/* SPDX-License-Identifier: MIT */
/* Built without Vulkan: the lavapipe back-end is not available. */
#include <errno.h>

#include "gpu.h"

static int vk_none_init(struct gpu *g)
{
	return -ENODEV;
}

const struct gpu_ops gpu_vk_ops = {
	.name = "lavapipe (not built: no Vulkan headers)",
	.init = vk_none_init,
};

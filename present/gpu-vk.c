/* SPDX-License-Identifier: MIT */
/*
 * The lavapipe back-end: real Vulkan rendering with Mesa's CPU driver.
 *
 * Each swapchain buffer is a linear VkImage (width x height+1, 32-bit
 * pixels, row 0 the stamp) in exportable memory, exported as a dma-buf.
 * A frame's render is a command buffer that copies the frame, which the
 * client wrote into a host-visible upload buffer while recording, into the
 * image, cfg.vk_passes times.  Its semaphore is exported as a sync file
 * (VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT): the render fence.  The
 * dummy submit is a real vkQueueSubmit with no work that waits on the
 * render semaphore and signals its own, exported and attached as writer.
 * Render times come from a watcher thread that waits on each submit's
 * VkFence (lavapipe's SYNC_FD export waits for the work itself and hands
 * out an already-signaled fence, so the sync file carries no render time).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vulkan/vulkan.h>

#include "gpu.h"

struct vk_render {
	uint32_t frame;
	VkFence fence;
	int dep_fd;		/* a copy of the dependency, to see when it is met; or -1 */
	int64_t t_submit;
};

struct vk {
	VkInstance inst;
	VkPhysicalDevice pdev;
	VkDevice dev;
	VkQueue queue;
	VkCommandPool pool;
	PFN_vkGetMemoryFdKHR GetMemoryFdKHR;
	PFN_vkGetSemaphoreFdKHR GetSemaphoreFdKHR;
	PFN_vkImportSemaphoreFdKHR ImportSemaphoreFdKHR;
	VkImage img[NBUFFERS];
	VkDeviceMemory mem[NBUFFERS];
	VkBuffer up[NBUFFERS];
	VkDeviceMemory up_mem[NBUFFERS];
	void *up_map[NBUFFERS];
	VkCommandBuffer cmd[NBUFFERS];
	VkSemaphore sem_done[NBUFFERS];	/* exported: the render fence */
	VkSemaphore sem_chain[NBUFFERS];	/* for the dummy submit to wait on */
	VkSemaphore sem_noop[NBUFFERS];	/* exported: the dummy submit's fence */
	VkSemaphore sem_dep[NBUFFERS];	/* imported dependencies */
	/* the watcher: renders submitted, waited for in order */
	pthread_t watcher;
	bool watching, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vk_render *pending;
	size_t head, npending, cap;
	unsigned int jobs;
	int64_t busy_ns, first, last, last_end;
};

static int vkerr(VkResult r)
{
	switch (r) {
	case VK_SUCCESS:
		return 0;
	case VK_ERROR_OUT_OF_HOST_MEMORY:
	case VK_ERROR_OUT_OF_DEVICE_MEMORY:
		return -ENOMEM;
	case VK_ERROR_INITIALIZATION_FAILED:
	case VK_ERROR_INCOMPATIBLE_DRIVER:
	case VK_ERROR_EXTENSION_NOT_PRESENT:
	case VK_ERROR_FEATURE_NOT_PRESENT:
		return -ENODEV;
	case VK_ERROR_DEVICE_LOST:
		return -EIO;
	default:
		return -EINVAL;
	}
}

static int find_memtype(struct vk *v, uint32_t bits, VkMemoryPropertyFlags want)
{
	VkPhysicalDeviceMemoryProperties mp;

	vkGetPhysicalDeviceMemoryProperties(v->pdev, &mp);
	for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
		if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want)
			return (int)i;
	return -1;
}

static int make_device(struct vk *v)
{
	static const char *const exts[] = {
		VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME,
		VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME,
		VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME,
	};
	VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
				  .pApplicationName = "present-client",
				  .apiVersion = VK_API_VERSION_1_2 };
	VkInstanceCreateInfo ici = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
				     .pApplicationInfo = &app };
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
					.queueFamilyIndex = 0, .queueCount = 1,
					.pQueuePriorities = &prio };
	VkDeviceCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
				   .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
				   .enabledExtensionCount = 3, .ppEnabledExtensionNames = exts };
	VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
					.queueFamilyIndex = 0 };
	VkPhysicalDevice pdevs[8];
	uint32_t n = 8;
	VkResult r;

	r = vkCreateInstance(&ici, NULL, &v->inst);
	if (r != VK_SUCCESS)
		return vkerr(r);
	r = vkEnumeratePhysicalDevices(v->inst, &n, pdevs);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE)
		return vkerr(r);
	for (uint32_t i = 0; i < n && !v->pdev; i++) {
		VkPhysicalDeviceProperties p;

		vkGetPhysicalDeviceProperties(pdevs[i], &p);
		if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
			v->pdev = pdevs[i];
	}
	if (!v->pdev)
		return -ENODEV;
	r = vkCreateDevice(v->pdev, &dci, NULL, &v->dev);
	if (r != VK_SUCCESS)
		return vkerr(r);
	vkGetDeviceQueue(v->dev, 0, 0, &v->queue);
	r = vkCreateCommandPool(v->dev, &pci, NULL, &v->pool);
	if (r != VK_SUCCESS)
		return vkerr(r);
	v->GetMemoryFdKHR = (PFN_vkGetMemoryFdKHR)vkGetDeviceProcAddr(v->dev, "vkGetMemoryFdKHR");
	v->GetSemaphoreFdKHR = (PFN_vkGetSemaphoreFdKHR)vkGetDeviceProcAddr(v->dev,
									   "vkGetSemaphoreFdKHR");
	v->ImportSemaphoreFdKHR = (PFN_vkImportSemaphoreFdKHR)
		vkGetDeviceProcAddr(v->dev, "vkImportSemaphoreFdKHR");
	if (!v->GetMemoryFdKHR || !v->GetSemaphoreFdKHR || !v->ImportSemaphoreFdKHR)
		return -ENODEV;
	return 0;
}

static int make_semaphore(struct vk *v, bool exportable, VkSemaphore *s)
{
	VkExportSemaphoreCreateInfo esci = {
		.sType = VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO,
		.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	VkSemaphoreCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
				      .pNext = exportable ? &esci : NULL };

	return vkerr(vkCreateSemaphore(v->dev, &sci, NULL, s));
}

/* The exportable image of buffer @b, its dma-buf and its layout. */
static int make_image(struct gpu *g, struct vk *v, unsigned int b)
{
	VkExternalMemoryImageCreateInfo eici = {
		.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO,
		.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	VkImageCreateInfo ici = {
		.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
		.pNext = &eici,
		.imageType = VK_IMAGE_TYPE_2D,
		.format = VK_FORMAT_B8G8R8A8_UNORM,
		.extent = { g->cfg.width, g->cfg.height + 1, 1 },
		.mipLevels = 1,
		.arrayLayers = 1,
		.samples = VK_SAMPLE_COUNT_1_BIT,
		.tiling = VK_IMAGE_TILING_LINEAR,
		.usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
		.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
	};
	VkImageSubresource sub = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0 };
	VkMemoryDedicatedAllocateInfo dai = { .sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO };
	VkExportMemoryAllocateInfo emai = {
		.sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
		.pNext = &dai,
		.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
				     .pNext = &emai };
	VkMemoryGetFdInfoKHR gfi = { .sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR,
				     .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT };
	VkSubresourceLayout lay;
	VkMemoryRequirements req;
	int type, fd = -1, err;

	err = vkerr(vkCreateImage(v->dev, &ici, NULL, &v->img[b]));
	if (err)
		return err;
	vkGetImageMemoryRequirements(v->dev, v->img[b], &req);
	type = find_memtype(v, req.memoryTypeBits, 0);
	if (type < 0)
		return -ENOMEM;
	dai.image = v->img[b];
	mai.allocationSize = req.size;
	mai.memoryTypeIndex = (uint32_t)type;
	err = vkerr(vkAllocateMemory(v->dev, &mai, NULL, &v->mem[b]));
	if (!err)
		err = vkerr(vkBindImageMemory(v->dev, v->img[b], v->mem[b], 0));
	if (err)
		return err;
	gfi.memory = v->mem[b];
	err = vkerr(v->GetMemoryFdKHR(v->dev, &gfi, &fd));
	if (err)
		return err;
	vkGetImageSubresourceLayout(v->dev, v->img[b], &sub, &lay);
	g->buf[b] = (struct gpu_buffer){ .fd = fd, .offset = (unsigned int)lay.offset,
					 .stride = (unsigned int)lay.rowPitch, .size = req.size };
	return 0;
}

/* The host-visible upload buffer of @b, mapped. */
static int make_upload(struct gpu *g, struct vk *v, unsigned int b)
{
	VkDeviceSize size = (VkDeviceSize)g->cfg.width * 4 * (g->cfg.height + 1);
	VkBufferCreateInfo bci = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
				   .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT };
	VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO };
	VkMemoryRequirements req;
	int type, err;

	err = vkerr(vkCreateBuffer(v->dev, &bci, NULL, &v->up[b]));
	if (err)
		return err;
	vkGetBufferMemoryRequirements(v->dev, v->up[b], &req);
	type = find_memtype(v, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
						   VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
	if (type < 0)
		return -ENOMEM;
	mai.allocationSize = req.size;
	mai.memoryTypeIndex = (uint32_t)type;
	err = vkerr(vkAllocateMemory(v->dev, &mai, NULL, &v->up_mem[b]));
	if (!err)
		err = vkerr(vkBindBufferMemory(v->dev, v->up[b], v->up_mem[b], 0));
	if (!err)
		err = vkerr(vkMapMemory(v->dev, v->up_mem[b], 0, size, 0, &v->up_map[b]));
	return err;
}

/* The render of @b: upload -> image, vk_passes times, visible to the host after. */
static int record_render(struct gpu *g, struct vk *v, unsigned int b)
{
	VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
					    .commandPool = v->pool,
					    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
					    .commandBufferCount = 1 };
	VkCommandBufferBeginInfo cbi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
					 .flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT };
	VkImageSubresourceRange range = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1 };
	VkImageMemoryBarrier to_dst = {
		.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
		.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
		.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED,
		.newLayout = VK_IMAGE_LAYOUT_GENERAL,
		.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
		.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
		.image = v->img[b],
		.subresourceRange = range,
	};
	VkImageMemoryBarrier to_host = to_dst;
	VkBufferImageCopy region = {
		.imageSubresource = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1 },
		.imageExtent = { g->cfg.width, g->cfg.height + 1, 1 },
	};
	VkCommandBuffer cb;
	int err;

	err = vkerr(vkAllocateCommandBuffers(v->dev, &cai, &cb));
	if (err)
		return err;
	v->cmd[b] = cb;
	vkBeginCommandBuffer(cb, &cbi);
	vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
			     0, 0, NULL, 0, NULL, 1, &to_dst);
	for (unsigned int p = 0; p < g->cfg.vk_passes; p++) {
		VkMemoryBarrier waw = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
					.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
					.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT };

		vkCmdCopyBufferToImage(cb, v->up[b], v->img[b], VK_IMAGE_LAYOUT_GENERAL, 1, &region);
		if (p + 1 < g->cfg.vk_passes)
			vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
					     VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &waw, 0, NULL, 0,
					     NULL);
	}
	to_host.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
	to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_MEMORY_READ_BIT;
	to_host.oldLayout = VK_IMAGE_LAYOUT_GENERAL;
	vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
			     0, 0, NULL, 0, NULL, 1, &to_host);
	return vkerr(vkEndCommandBuffer(cb));
}

static void *watch_main(void *arg);

static void vk_free(struct gpu *g);

/**
 * vk_init() - the lavapipe device, buffers, command buffers, semaphores
 * and the watcher thread.
 * @g: the GPU; fills g->buf
 *
 * On error everything made so far is freed again (vk_free()).
 *
 * Return: 0 or a negative errno.
 */
static int vk_init(struct gpu *g)
{
	struct vk *v = calloc(1, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	g->priv = v;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	for (int b = 0; b < NBUFFERS; b++)
		g->buf[b].fd = -1;
	err = make_device(v);
	if (err)
		goto free_vk;
	for (unsigned int b = 0; b < NBUFFERS; b++) {
		err = make_image(g, v, b);
		if (!err)
			err = make_upload(g, v, b);
		if (!err)
			err = record_render(g, v, b);
		if (!err)
			err = make_semaphore(v, true, &v->sem_done[b]);
		if (!err)
			err = make_semaphore(v, false, &v->sem_chain[b]);
		if (!err)
			err = make_semaphore(v, true, &v->sem_noop[b]);
		if (!err)
			err = make_semaphore(v, false, &v->sem_dep[b]);
		if (err)
			goto free_vk;
	}
	v->cap = 64;
	v->pending = calloc(v->cap, sizeof(*v->pending));
	if (!v->pending) {
		err = -ENOMEM;
		goto free_vk;
	}
	err = -pthread_create(&v->watcher, NULL, watch_main, g);
	if (err)
		goto free_vk;
	v->watching = true;
	return 0;

free_vk:
	vk_free(g);
	return err;
}

/* The client's CPU part: the frame's pixels into the upload buffer. */
static void vk_prepare(struct gpu *g, unsigned int b, uint32_t frame)
{
	struct vk *v = g->priv;
	uint64_t sum = image_render_rows(v->up_map[b], g->cfg.width * 4, g->cfg.width, 0,
					 g->cfg.height, frame);

	memset(v->up_map[b], 0, (size_t)g->cfg.width * 4);
	image_stamp(v->up_map[b], frame, sum);
}

static int export_sem(struct vk *v, VkSemaphore s, int *fd)
{
	VkSemaphoreGetFdInfoKHR gi = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR,
				       .semaphore = s,
				       .handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT };

	*fd = -1;
	return vkerr(v->GetSemaphoreFdKHR(v->dev, &gi, fd));
}

/*
 * One render done: its span on the GPU lane, from when the queue could
 * start it (submitted, its dependency met, the previous render done).
 */
static void render_done(struct vk *v, const struct vk_render *r, int64_t t_ready, int64_t t1)
{
	int64_t t0 = t_ready > v->last_end ? t_ready : v->last_end;

	if (t0 > t1)
		t0 = t1;
	v->last_end = t1;
	if (!v->jobs)
		v->first = t0;
	v->jobs++;
	v->busy_ns += t1 - t0;
	v->last = t1;
	out_span(SPAN_RENDER, r->frame, t0, t1);
	if (out.rec)
		fprintf(out.rec, "G %u %lld %lld 0\n", r->frame, (long long)t0, (long long)t1);
}

/**
 * watch_main() - the GPU lane: waits for each submit's fence, in order.
 * @arg: the GPU
 *
 * Return: NULL.
 */
static void *watch_main(void *arg)
{
	struct gpu *g = arg;
	struct vk *v = g->priv;

	out_thread_name(gettid_cached(), "lavapipe queue (watched)");
	for (;;) {
		struct vk_render r;
		int64_t t_ready;
		VkResult res;

		pthread_mutex_lock(&v->lock);
		while (!v->npending && !v->stop)
			pthread_cond_wait(&v->cond, &v->lock);
		if (!v->npending) {
			pthread_mutex_unlock(&v->lock);
			break;
		}
		r = v->pending[v->head];
		pthread_mutex_unlock(&v->lock);
		t_ready = r.t_submit;
		if (r.dep_fd >= 0) {
			if (wait_fd(r.dep_fd, POLLIN, -1, g->cfg.timeout_ms) == 0)
				t_ready = now_ns();
			if (t_ready > r.t_submit)
				out_span(SPAN_DEP_WAIT, r.frame, r.t_submit, t_ready);
			close(r.dep_fd);
		}
		res = vkWaitForFences(v->dev, 1, &r.fence, VK_TRUE,
				      (uint64_t)g->cfg.timeout_ms * 1000000);
		if (res != VK_SUCCESS)
			die("lavapipe: render of frame %u did not finish (%d)", r.frame, res);
		render_done(v, &r, t_ready, now_ns());
		vkDestroyFence(v->dev, r.fence, NULL);
		pthread_mutex_lock(&v->lock);
		v->head = (v->head + 1) % v->cap;
		v->npending--;
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
	}
	return NULL;
}

/**
 * watch() - hand a submitted render to the watcher thread.
 * @v: the back-end
 * @frame: its frame
 * @fence: its VkFence, the watcher's to wait on and destroy
 * @dep_fd: a copy of its dependency's sync file, the watcher's to close; or -1
 * @t_submit: when it was submitted
 *
 * Takes the lock; blocks under it (on the condition) while the watcher's
 * ring is full, which bounds how far the client runs ahead of the renders.
 */
static void watch(struct vk *v, uint32_t frame, VkFence fence, int dep_fd, int64_t t_submit)
{
	pthread_mutex_lock(&v->lock);
	while (v->npending == v->cap)
		pthread_cond_wait(&v->cond, &v->lock);
	v->pending[(v->head + v->npending) % v->cap] =
		(struct vk_render){ .frame = frame, .fence = fence, .dep_fd = dep_fd,
				    .t_submit = t_submit };
	v->npending++;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/**
 * vk_render() - submit the render of @frame into buffer @b (gpu_ops.render).
 * @g: the GPU
 * @b: the buffer
 * @frame: the frame (its pixels are in @b's upload buffer, from vk_prepare())
 * @dep_fd: a sync file to wait for first, or -1; consumed, on success (the
 *          semaphore's temporary payload) and on error alike
 * @implicit: attach the render fence to @b's dma-buf as a writer
 * @out_fd: the render fence as a sync file, the caller's; or NULL
 *
 * The submit signals one semaphore: @b's exportable sem_done when the
 * render fence leaves as a sync file (@out_fd or @implicit), else
 * sem_chain when a dummy submit follows (cfg.dummy_submit) and waits on
 * it, else none.  The watcher thread times the render (watch()).
 *
 * Return: 0 or a negative errno.
 */
static int vk_render(struct gpu *g, unsigned int b, uint32_t frame, int dep_fd, bool implicit,
		     int *out_fd)
{
	struct vk *v = g->priv;
	VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
	VkSemaphore signal = out_fd || implicit ? v->sem_done[b]
			     : g->cfg.dummy_submit ? v->sem_chain[b] : VK_NULL_HANDLE;
	VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
			    .pCommandBuffers = &v->cmd[b],
			    .signalSemaphoreCount = signal ? 1 : 0, .pSignalSemaphores = &signal };
	VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
	VkFence fence;
	int64_t t_submit;
	int fd, err, dep_copy = -1;

	err = vkerr(vkCreateFence(v->dev, &fci, NULL, &fence));
	if (err)
		goto close_dep;
	if (dep_fd >= 0) {
		VkImportSemaphoreFdInfoKHR ii = {
			.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR,
			.semaphore = v->sem_dep[b],
			.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT,
			.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
			.fd = dep_fd,
		};

		/* The watcher's copy, to see when the dependency is met. */
		dep_copy = fcntl(dep_fd, F_DUPFD_CLOEXEC, 0);
		err = vkerr(v->ImportSemaphoreFdKHR(v->dev, &ii));
		if (err)
			goto destroy_fence;
		dep_fd = -1;	/* the semaphore's payload now */
		si.waitSemaphoreCount = 1;
		si.pWaitSemaphores = &v->sem_dep[b];
		si.pWaitDstStageMask = &stage;
	}
	t_submit = now_ns();
	err = vkerr(vkQueueSubmit(v->queue, 1, &si, fence));
	if (err)
		goto destroy_fence;
	watch(v, frame, fence, dep_copy, t_submit);
	if (!out_fd && !implicit)
		return 0;
	err = export_sem(v, v->sem_done[b], &fd);
	if (err)
		return err;
	if (implicit) {
		err = dmabuf_attach_writer(g->buf[b].fd, fd);
		if (err)
			goto close_fence_fd;
	}
	if (out_fd)
		*out_fd = fd;
	else
		close(fd);
	return 0;

close_fence_fd:
	close(fd);
	return err;
destroy_fence:
	vkDestroyFence(v->dev, fence, NULL);
	if (dep_copy >= 0)
		close(dep_copy);
close_dep:
	if (dep_fd >= 0)
		close(dep_fd);
	return err;
}

/* The dummy submit (gpu_ops.dummy): waits on the render's sem_chain, signals sem_noop. */
static int vk_dummy(struct gpu *g, unsigned int b, uint32_t frame)
{
	struct vk *v = g->priv;
	VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
	VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .waitSemaphoreCount = 1,
			    .pWaitSemaphores = &v->sem_chain[b], .pWaitDstStageMask = &stage,
			    .signalSemaphoreCount = 1, .pSignalSemaphores = &v->sem_noop[b] };
	int fd, err;

	if (!g->cfg.dummy_submit)
		return -EINVAL;	/* the render did not signal sem_chain */
	err = vkerr(vkQueueSubmit(v->queue, 1, &si, VK_NULL_HANDLE));
	if (err)
		return err;
	err = export_sem(v, v->sem_noop[b], &fd);
	if (err)
		return err;
	err = dmabuf_attach_writer(g->buf[b].fd, fd);
	close(fd);
	return err;
}

/* What vk_init() made, however far it got; g->priv is NULL after. */
static void vk_free(struct gpu *g)
{
	struct vk *v = g->priv;

	if (v->dev) {
		for (int b = 0; b < NBUFFERS; b++) {
			VkSemaphore *s[] = { &v->sem_done[b], &v->sem_chain[b], &v->sem_noop[b],
					     &v->sem_dep[b] };

			for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
				if (*s[i])
					vkDestroySemaphore(v->dev, *s[i], NULL);
			if (v->up_map[b])
				vkUnmapMemory(v->dev, v->up_mem[b]);
			if (v->up[b])
				vkDestroyBuffer(v->dev, v->up[b], NULL);
			if (v->up_mem[b])
				vkFreeMemory(v->dev, v->up_mem[b], NULL);
			if (v->img[b])
				vkDestroyImage(v->dev, v->img[b], NULL);
			if (v->mem[b])
				vkFreeMemory(v->dev, v->mem[b], NULL);
		}
		if (v->pool)
			vkDestroyCommandPool(v->dev, v->pool, NULL);
		vkDestroyDevice(v->dev, NULL);
	}
	for (int b = 0; b < NBUFFERS; b++) {
		if (g->buf[b].fd >= 0)
			close(g->buf[b].fd);
		g->buf[b].fd = -1;
	}
	if (v->inst)
		vkDestroyInstance(v->inst, NULL);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v->pending);
	free(v);
	g->priv = NULL;
}

/* Stop the watcher (every render waited for), write the "Q" record, free. */
static void vk_finish(struct gpu *g)
{
	struct vk *v = g->priv;

	if (!v)
		return;
	if (v->watching) {
		pthread_mutex_lock(&v->lock);
		v->stop = true;
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
		pthread_join(v->watcher, NULL);
		vkDeviceWaitIdle(v->dev);
		if (out.rec)
			fprintf(out.rec, "Q %u %lld %lld %lld\n", v->jobs, (long long)v->busy_ns,
				(long long)v->first, (long long)v->last);
	}
	vk_free(g);
}

const struct gpu_ops gpu_vk_ops = {
	.name = "lavapipe",
	.init = vk_init,
	.prepare = vk_prepare,
	.render = vk_render,
	.dummy = vk_dummy,
	.finish = vk_finish,
};

/*
 * vk-dmabuf: does the CPU Vulkan driver (Mesa lavapipe) export dma-bufs and
 * SYNC_FD semaphores, and do the exported fds behave like the kernel's?
 *
 * Standalone: links only -lvulkan and uses the kernel UAPI headers, so it
 * runs the same against the real kernel and under `dmasync run --`.
 *
 *   cc -std=c11 -Wall -Wextra -O2 -o vk-dmabuf vk-dmabuf.c -lvulkan
 *   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json ./vk-dmabuf [--require]
 *
 * Lavapipe (Mesa >= 24.1) offers dma-buf export only when open("/dev/udmabuf")
 * succeeds (memfd + UDMABUF_CREATE), and SYNC_FD semaphores only when
 * DMA_BUF_IOCTL_EXPORT_SYNC_FILE works on a dummy udmabuf.  Without them the
 * feature tests print "# SKIP"; with --require a missing feature fails.
 *
 * Output is TAP; the exit status is 1 when any test failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <vulkan/vulkan.h>

/* The sw_sync UAPI (no installed header). */
#include "../preload/sw_sync-abi.h"
#define SW_SYNC_PATH "/sys/kernel/debug/sync/sw_sync"

#define BUF_SIZE (64u * 1024u)
#define IMG_DIM 64u
#define PATTERN1 0xc0ffee42u
#define PATTERN2 0x5a5aa5a5u
#define PATTERN3 0x13572468u
#define PATTERN4 0x2468ace0u
#define FENCE_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

static unsigned ntests, nfailed;
static bool require_features;

__attribute__((format(printf, 3, 0)))
static void vtest(bool pass, const char *directive, const char *fmt, va_list ap)
{
	ntests++;
	if (!pass)
		nfailed++;
	printf("%sok %u - ", pass ? "" : "not ", ntests);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	putchar('\n');
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static bool test(bool pass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vtest(pass, NULL, fmt, ap);
	va_end(ap);
	return pass;
}

/* A test that cannot run: "ok N - what # SKIP why". */
__attribute__((format(printf, 2, 3)))
static void skip(const char *why, const char *fmt, ...)
{
	char dir[256];
	va_list ap;
	snprintf(dir, sizeof(dir), "SKIP %s", why);
	va_start(ap, fmt);
	vtest(true, dir, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static void diag(const char *fmt, ...)
{
	va_list ap;
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A driver feature: ok when offered; SKIP when not (a failure with
 * --require). Returns whether it is offered. */
static bool feature(bool offered, const char *why_not, const char *what)
{
	if (offered)
		test(true, "%s", what);
	else if (require_features)
		test(false, "%s (%s)", what, why_not);
	else
		skip(why_not, "%s", what);
	return offered;
}

struct ctx {
	VkInstance inst;
	VkPhysicalDevice pdev;
	VkPhysicalDeviceMemoryProperties memprops;
	VkDevice dev;
	VkQueue queue;
	VkCommandPool pool;
	PFN_vkGetMemoryFdKHR GetMemoryFdKHR;
	PFN_vkGetMemoryFdPropertiesKHR GetMemoryFdPropertiesKHR;
	PFN_vkGetSemaphoreFdKHR GetSemaphoreFdKHR;
	PFN_vkImportSemaphoreFdKHR ImportSemaphoreFdKHR;
};

/* A buffer with its own memory. */
struct buf {
	VkBuffer buf;
	VkDeviceMemory mem;
	VkDeviceSize size;
	void *map; /* host mapping, when requested */
};

static const char *vkres(VkResult r)
{
	switch (r) {
	case VK_SUCCESS: return "VK_SUCCESS";
	case VK_TIMEOUT: return "VK_TIMEOUT";
	case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
	case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
	case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
	case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
	case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
	case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
	case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
	case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
	case VK_ERROR_INVALID_EXTERNAL_HANDLE: return "VK_ERROR_INVALID_EXTERNAL_HANDLE";
	case VK_ERROR_UNKNOWN: return "VK_ERROR_UNKNOWN";
	default: return "VkResult(?)";
	}
}

static bool has_ext(const VkExtensionProperties *exts, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(exts[i].extensionName, name) == 0)
			return true;
	return false;
}

static int find_memtype(const struct ctx *c, uint32_t bits, VkMemoryPropertyFlags want)
{
	for (uint32_t i = 0; i < c->memprops.memoryTypeCount; i++)
		if ((bits & (1u << i)) &&
		    (c->memprops.memoryTypes[i].propertyFlags & want) == want)
			return (int)i;
	return -1;
}

/*
 * Create a TRANSFER_SRC|DST buffer and bind memory to it.  ext_type: 0 for
 * plain memory, else the external handle type of the buffer; export: allocate
 * exportable memory; import_fd >= 0: import that fd (ownership passes to the
 * driver on success).
 */
static VkResult buf_create(struct ctx *c, struct buf *b, VkDeviceSize size,
			   VkExternalMemoryHandleTypeFlagBits ext_type, bool export,
			   int import_fd, bool map)
{
	memset(b, 0, sizeof(*b));
	b->size = size;
	VkExternalMemoryBufferCreateInfo ebci = {
		.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
		.handleTypes = ext_type,
	};
	VkBufferCreateInfo bci = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.pNext = ext_type ? &ebci : NULL,
		.size = size,
		.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
	};
	VkResult r = vkCreateBuffer(c->dev, &bci, NULL, &b->buf);
	if (r != VK_SUCCESS)
		return r;

	VkMemoryRequirements req;
	vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
	uint32_t bits = req.memoryTypeBits;
	if (import_fd >= 0) {
		VkMemoryFdPropertiesKHR fdp = { .sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR };
		r = c->GetMemoryFdPropertiesKHR(c->dev, ext_type, import_fd, &fdp);
		if (r != VK_SUCCESS)
			return r;
		bits &= fdp.memoryTypeBits;
	}
	int type = find_memtype(c, bits, map ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
						 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT : 0);
	if (type < 0)
		return VK_ERROR_OUT_OF_DEVICE_MEMORY;

	VkExportMemoryAllocateInfo emai = {
		.sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
		.handleTypes = ext_type,
	};
	VkImportMemoryFdInfoKHR imfi = {
		.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
		.handleType = ext_type,
		.fd = import_fd,
	};
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
		.pNext = import_fd >= 0 ? (const void *)&imfi : export ? (const void *)&emai : NULL,
		.allocationSize = req.size,
		.memoryTypeIndex = (uint32_t)type,
	};
	r = vkAllocateMemory(c->dev, &mai, NULL, &b->mem);
	if (r != VK_SUCCESS)
		return r;
	r = vkBindBufferMemory(c->dev, b->buf, b->mem, 0);
	if (r != VK_SUCCESS)
		return r;
	if (map)
		r = vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
	return r;
}

static void buf_destroy(struct ctx *c, struct buf *b)
{
	if (b->map)
		vkUnmapMemory(c->dev, b->mem);
	if (b->buf)
		vkDestroyBuffer(c->dev, b->buf, NULL);
	if (b->mem)
		vkFreeMemory(c->dev, b->mem, NULL);
	memset(b, 0, sizeof(*b));
}

static VkCommandBuffer cmd_begin(struct ctx *c)
{
	VkCommandBufferAllocateInfo ai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = c->pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	VkCommandBuffer cb = VK_NULL_HANDLE;
	if (vkAllocateCommandBuffers(c->dev, &ai, &cb) != VK_SUCCESS)
		return VK_NULL_HANDLE;
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	};
	if (vkBeginCommandBuffer(cb, &bi) != VK_SUCCESS) {
		vkFreeCommandBuffers(c->dev, c->pool, 1, &cb);
		return VK_NULL_HANDLE;
	}
	return cb;
}

/* End cb, submit it (waiting on / signalling the given semaphores when not
 * null) and wait for it to complete.  Frees cb. */
static VkResult cmd_submit(struct ctx *c, VkCommandBuffer cb, VkSemaphore wait,
			   VkSemaphore signal)
{
	VkResult r = vkEndCommandBuffer(cb);
	VkFence fence = VK_NULL_HANDLE;
	if (r == VK_SUCCESS) {
		VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
		r = vkCreateFence(c->dev, &fci, NULL, &fence);
	}
	if (r == VK_SUCCESS) {
		VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
		VkSubmitInfo si = {
			.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
			.waitSemaphoreCount = wait ? 1 : 0,
			.pWaitSemaphores = &wait,
			.pWaitDstStageMask = &stage,
			.commandBufferCount = 1,
			.pCommandBuffers = &cb,
			.signalSemaphoreCount = signal ? 1 : 0,
			.pSignalSemaphores = &signal,
		};
		r = vkQueueSubmit(c->queue, 1, &si, fence);
	}
	if (r == VK_SUCCESS)
		r = vkWaitForFences(c->dev, 1, &fence, VK_TRUE, FENCE_TIMEOUT_NS);
	if (fence)
		vkDestroyFence(c->dev, fence, NULL);
	if (r != VK_TIMEOUT)	/* still in use otherwise */
		vkFreeCommandBuffers(c->dev, c->pool, 1, &cb);
	return r;
}

/* Index of the first word of p[0..n) that is not v, or n. */
static size_t check_words(const void *p, size_t n, uint32_t v)
{
	const uint32_t *w = p;
	for (size_t i = 0; i < n; i++)
		if (w[i] != v)
			return i;
	return n;
}

static int dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };
	int ret;
	do
		ret = ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
	while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret;
}

/* ---- dma-buf export of a VkBuffer ---------------------------------------- */

static void test_buffer(struct ctx *c, bool importable)
{
	const char *why = "earlier step failed";
	struct buf eb, rb, ib;
	int fd = -1;
	void *map = MAP_FAILED;
	size_t words = BUF_SIZE / 4, bad;
	VkResult r;

	r = buf_create(c, &eb, BUF_SIZE, VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
		       true, -1, false);
	if (!test(r == VK_SUCCESS, "allocate %u KiB exportable dma-buf memory for a VkBuffer (%s)",
		  BUF_SIZE / 1024, vkres(r)))
		goto skip_fill;

	VkCommandBuffer cb = cmd_begin(c);
	if (cb)
		vkCmdFillBuffer(cb, eb.buf, 0, VK_WHOLE_SIZE, PATTERN1);
	r = cb ? cmd_submit(c, cb, VK_NULL_HANDLE, VK_NULL_HANDLE) : VK_ERROR_UNKNOWN;
	if (!test(r == VK_SUCCESS, "vkCmdFillBuffer 0x%08x into it (%s)", PATTERN1, vkres(r)))
		goto skip_export;

	VkMemoryGetFdInfoKHR gfi = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR,
		.memory = eb.mem,
		.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	r = c->GetMemoryFdKHR(c->dev, &gfi, &fd);
	if (!test(r == VK_SUCCESS && fd >= 0, "vkGetMemoryFdKHR(DMA_BUF) gives an fd (%s, fd %d)",
		  vkres(r), fd))
		goto skip_export;

	off_t end = lseek(fd, 0, SEEK_END);
	test(end >= (off_t)BUF_SIZE && lseek(fd, 0, SEEK_SET) == 0,
	     "lseek(dma-buf, 0, SEEK_END) gives its size (%jd)", (intmax_t)end);

	map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!test(map != MAP_FAILED, "mmap(dma-buf fd, MAP_SHARED) (%s)",
		  map == MAP_FAILED ? strerror(errno) : "ok")) {
		skip(why, "dma-buf mapping shows the fill pattern");
		skip(why, "CPU writes through the dma-buf mapping reach Vulkan");
		goto skip_import;
	}
	int sret = dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	bad = check_words(map, words, PATTERN1);
	test(sret == 0 && bad == words,
	     "dma-buf mapping shows the fill pattern (DMA_BUF_IOCTL_SYNC %s, first bad word %zu of %zu)",
	     sret == 0 ? "ok" : strerror(errno), bad, words);

	/* Write the second half through the mapping, copy the whole buffer on
	 * the device into a host buffer, and compare. */
	for (size_t i = words / 2; i < words; i++)
		((uint32_t *)map)[i] = PATTERN2;
	sret = dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	r = buf_create(c, &rb, BUF_SIZE, 0, false, -1, true);
	if (r == VK_SUCCESS) {
		memset(rb.map, 0, BUF_SIZE);
		cb = cmd_begin(c);
		VkBufferCopy region = { .size = BUF_SIZE };
		if (cb)
			vkCmdCopyBuffer(cb, eb.buf, rb.buf, 1, &region);
		r = cb ? cmd_submit(c, cb, VK_NULL_HANDLE, VK_NULL_HANDLE) : VK_ERROR_UNKNOWN;
	}
	bad = r == VK_SUCCESS ? check_words(rb.map, words / 2, PATTERN1) : 0;
	size_t bad2 = r == VK_SUCCESS ? check_words((uint32_t *)rb.map + words / 2, words / 2,
						    PATTERN2) : 0;
	test(r == VK_SUCCESS && sret == 0 && bad == words / 2 && bad2 == words / 2,
	     "CPU writes through the dma-buf mapping reach Vulkan (%s, sync %s, halves %zu/%zu ok)",
	     vkres(r), sret == 0 ? "ok" : "failed", bad, bad2);
	buf_destroy(c, &rb);

skip_import:
	if (!importable) {
		skip("driver does not offer dma-buf import", "import the dma-buf into a new VkBuffer");
	} else {
		int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		r = dfd >= 0 ? buf_create(c, &ib, BUF_SIZE, VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
					  false, dfd, false) : VK_ERROR_INVALID_EXTERNAL_HANDLE;
		bool ok = false;
		if (r == VK_SUCCESS && buf_create(c, &rb, BUF_SIZE, 0, false, -1, true) == VK_SUCCESS) {
			cb = cmd_begin(c);
			VkBufferCopy region = { .size = BUF_SIZE };
			if (cb)
				vkCmdCopyBuffer(cb, ib.buf, rb.buf, 1, &region);
			r = cb ? cmd_submit(c, cb, VK_NULL_HANDLE, VK_NULL_HANDLE) : VK_ERROR_UNKNOWN;
			uint32_t want2 = map != MAP_FAILED ? PATTERN2 : PATTERN1;
			ok = r == VK_SUCCESS &&
			     check_words(rb.map, words / 2, PATTERN1) == words / 2 &&
			     check_words((uint32_t *)rb.map + words / 2, words / 2, want2) == words / 2;
			buf_destroy(c, &rb);
		}
		test(ok, "import the dma-buf into a new VkBuffer and read it back (%s)", vkres(r));
		buf_destroy(c, &ib);
	}
	if (map != MAP_FAILED)
		munmap(map, BUF_SIZE);
	close(fd);
	buf_destroy(c, &eb);
	return;

skip_fill:
	skip(why, "vkCmdFillBuffer into it");
skip_export:
	skip(why, "vkGetMemoryFdKHR(DMA_BUF) gives an fd");
	skip(why, "lseek(dma-buf, 0, SEEK_END) gives its size");
	skip(why, "mmap(dma-buf fd, MAP_SHARED)");
	skip(why, "dma-buf mapping shows the fill pattern");
	skip(why, "CPU writes through the dma-buf mapping reach Vulkan");
	skip(why, "import the dma-buf into a new VkBuffer");
	buf_destroy(c, &eb);
}

/* ---- dma-buf export of a linear VkImage ------------------------------------ */

static void test_image(struct ctx *c)
{
	VkImage img = VK_NULL_HANDLE;
	VkDeviceMemory mem = VK_NULL_HANDLE;
	VkMemoryRequirements req = { 0 };
	int fd = -1;
	VkResult r;

	VkExternalMemoryImageCreateInfo eici = {
		.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO,
		.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	VkImageCreateInfo ici = {
		.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
		.pNext = &eici,
		.imageType = VK_IMAGE_TYPE_2D,
		.format = VK_FORMAT_R8G8B8A8_UNORM,
		.extent = { IMG_DIM, IMG_DIM, 1 },
		.mipLevels = 1,
		.arrayLayers = 1,
		.samples = VK_SAMPLE_COUNT_1_BIT,
		.tiling = VK_IMAGE_TILING_LINEAR,
		.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
		.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
	};
	r = vkCreateImage(c->dev, &ici, NULL, &img);
	if (r == VK_SUCCESS) {
		vkGetImageMemoryRequirements(c->dev, img, &req);
		int type = find_memtype(c, req.memoryTypeBits, 0);
		VkMemoryDedicatedAllocateInfo dai = {
			.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO,
			.image = img,
		};
		VkExportMemoryAllocateInfo emai = {
			.sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
			.pNext = &dai,
			.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
		};
		VkMemoryAllocateInfo mai = {
			.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
			.pNext = &emai,
			.allocationSize = req.size,
			.memoryTypeIndex = type < 0 ? 0 : (uint32_t)type,
		};
		r = type < 0 ? VK_ERROR_OUT_OF_DEVICE_MEMORY : vkAllocateMemory(c->dev, &mai, NULL, &mem);
	}
	if (r == VK_SUCCESS)
		r = vkBindImageMemory(c->dev, img, mem, 0);
	if (r == VK_SUCCESS) {
		VkCommandBuffer cb = cmd_begin(c);
		if (cb) {
			VkImageSubresourceRange range = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1 };
			VkImageMemoryBarrier bar = {
				.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
				.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
				.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED,
				.newLayout = VK_IMAGE_LAYOUT_GENERAL,
				.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
				.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
				.image = img,
				.subresourceRange = range,
			};
			vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
					     VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0, NULL, 1, &bar);
			/* RGBA8 (0, 1, 0, 1) = bytes 00 ff 00 ff = 0xff00ff00 LE */
			VkClearColorValue green = { .float32 = { 0.0f, 1.0f, 0.0f, 1.0f } };
			vkCmdClearColorImage(cb, img, VK_IMAGE_LAYOUT_GENERAL, &green, 1, &range);
		}
		r = cb ? cmd_submit(c, cb, VK_NULL_HANDLE, VK_NULL_HANDLE) : VK_ERROR_UNKNOWN;
	}
	if (r == VK_SUCCESS) {
		VkMemoryGetFdInfoKHR gfi = {
			.sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR,
			.memory = mem,
			.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
		};
		r = c->GetMemoryFdKHR(c->dev, &gfi, &fd);
	}
	bool ok = false;
	VkSubresourceLayout lay = { 0 };
	if (r == VK_SUCCESS && fd >= 0) {
		VkImageSubresource sub = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0 };
		vkGetImageSubresourceLayout(c->dev, img, &sub, &lay);
		void *map = mmap(NULL, req.size, PROT_READ, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED) {
			dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
			ok = true;
			for (uint32_t y = 0; y < IMG_DIM && ok; y++)
				ok = check_words((char *)map + lay.offset + y * lay.rowPitch, IMG_DIM,
						 0xff00ff00u) == IMG_DIM;
			dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
			munmap(map, req.size);
		}
	}
	test(ok, "linear %ux%u RGBA8 VkImage: vkCmdClearColorImage, export, mmap shows the color "
	     "(%s, fd %d, rowPitch %" PRIu64 ")", IMG_DIM, IMG_DIM, vkres(r), fd, (uint64_t)lay.rowPitch);
	if (fd >= 0)
		close(fd);
	if (img)
		vkDestroyImage(c->dev, img, NULL);
	if (mem)
		vkFreeMemory(c->dev, mem, NULL);
}

/* ---- SYNC_FD semaphores ------------------------------------------------------ */

static const char *status_name(int s)
{
	return s > 0 ? "signaled" : s == 0 ? "active" : "error";
}

static void test_semaphores(struct ctx *c)
{
	const char *why = "earlier step failed";
	VkSemaphore s1 = VK_NULL_HANDLE, s2 = VK_NULL_HANDLE;
	struct buf hb = { 0 };
	int fd = -1;
	VkResult r;

	VkExportSemaphoreCreateInfo esci = {
		.sType = VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO,
		.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	VkSemaphoreCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &esci };
	r = vkCreateSemaphore(c->dev, &sci, NULL, &s1);
	if (r == VK_SUCCESS)
		r = buf_create(c, &hb, BUF_SIZE, 0, false, -1, true);
	if (r == VK_SUCCESS) {
		VkCommandBuffer cb = cmd_begin(c);
		if (cb)
			vkCmdFillBuffer(cb, hb.buf, 0, VK_WHOLE_SIZE, PATTERN1);
		r = cb ? cmd_submit(c, cb, VK_NULL_HANDLE, s1) : VK_ERROR_UNKNOWN;
	}
	if (r == VK_SUCCESS) {
		VkSemaphoreGetFdInfoKHR gfi = {
			.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR,
			.semaphore = s1,
			.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
		};
		r = c->GetSemaphoreFdKHR(c->dev, &gfi, &fd);
	}
	/* -1 is a valid export of an already signaled payload, but then there is
	 * no sync file to look at. */
	if (!test(r == VK_SUCCESS && fd >= 0,
		  "vkGetSemaphoreFdKHR(SYNC_FD) after a signalling submit gives a sync file (%s, fd %d)",
		  vkres(r), fd)) {
		skip(why, "SYNC_IOC_FILE_INFO on the exported sync file");
		skip(why, "poll(POLLIN) on the exported sync file");
		skip(why, "vkImportSemaphoreFdKHR(SYNC_FD, TEMPORARY)");
		skip(why, "a submit waiting on the imported semaphore completes");
		goto out;
	}

	struct sync_file_info info = { 0 };
	int ret = ioctl(fd, SYNC_IOC_FILE_INFO, &info);
	int err = errno;
	bool ok = ret == 0 && info.num_fences >= 1 && info.num_fences < 1024;
	if (ok) {
		uint32_t n = info.num_fences;
		struct sync_fence_info *fi = calloc(n, sizeof(*fi));
		memset(&info, 0, sizeof(info));
		info.num_fences = n;
		info.sync_fence_info = (uint64_t)(uintptr_t)fi;
		ret = ioctl(fd, SYNC_IOC_FILE_INFO, &info);
		err = errno;
		ok = fi && ret == 0 && info.status == 1;
		for (uint32_t i = 0; fi && ret == 0 && i < info.num_fences && i < n; i++)
			diag("  fence %u: driver \"%.32s\" timeline \"%.32s\" status %d (%s)", i,
			     fi[i].driver_name, fi[i].obj_name, fi[i].status,
			     status_name(fi[i].status));
		free(fi);
	}
	test(ok, "SYNC_IOC_FILE_INFO on the exported sync file: %s (name \"%.32s\", status %d %s, %u fence(s))",
	     ret == 0 ? "ok" : strerror(err), info.name, info.status, status_name(info.status),
	     info.num_fences);

	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ret = poll(&pfd, 1, 1000);
	test(ret == 1 && (pfd.revents & POLLIN) && !(pfd.revents & (POLLERR | POLLNVAL)),
	     "poll(POLLIN) on the exported sync file is ready (ret %d, revents 0x%x)", ret,
	     (unsigned)pfd.revents);

	sci.pNext = NULL;
	r = vkCreateSemaphore(c->dev, &sci, NULL, &s2);
	int ifd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r == VK_SUCCESS && ifd >= 0) {
		VkImportSemaphoreFdInfoKHR isi = {
			.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR,
			.semaphore = s2,
			.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT,
			.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
			.fd = ifd,
		};
		r = c->ImportSemaphoreFdKHR(c->dev, &isi);
		if (r != VK_SUCCESS)
			close(ifd);	/* ownership passes only on success */
	}
	if (!test(r == VK_SUCCESS && ifd >= 0, "vkImportSemaphoreFdKHR(SYNC_FD, TEMPORARY) (%s)",
		  vkres(r))) {
		skip(why, "a submit waiting on the imported semaphore completes");
		goto out;
	}

	VkCommandBuffer cb = cmd_begin(c);
	if (cb)
		vkCmdFillBuffer(cb, hb.buf, 0, VK_WHOLE_SIZE, PATTERN3);
	r = cb ? cmd_submit(c, cb, s2, VK_NULL_HANDLE) : VK_ERROR_UNKNOWN;
	size_t bad = r == VK_SUCCESS ? check_words(hb.map, BUF_SIZE / 4, PATTERN3) : 0;
	test(r == VK_SUCCESS && bad == BUF_SIZE / 4,
	     "a submit waiting on the imported semaphore completes (%s)", vkres(r));
out:
	if (fd >= 0)
		close(fd);
	vkQueueWaitIdle(c->queue);
	if (s1)
		vkDestroySemaphore(c->dev, s1, NULL);
	if (s2)
		vkDestroySemaphore(c->dev, s2, NULL);
	buf_destroy(c, &hb);
}

/*
 * Explicit sync into the driver: a submit waits on a semaphore holding a
 * pending sw_sync fence, and runs only once another process advances the
 * timeline.
 */
static void test_pending_sync_file(struct ctx *c)
{
	const char *what = "a submit waiting on a pending sw_sync fence";
	struct sw_sync_create_fence_data cf = { .value = 1, .name = "vk-dmabuf" };
	VkSemaphore s = VK_NULL_HANDLE;
	VkFence vf = VK_NULL_HANDLE;
	VkCommandBuffer cb = VK_NULL_HANDLE;
	struct buf hb = { 0 };
	VkResult r = VK_ERROR_UNKNOWN;
	int tl, ifd = -1;

	tl = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (tl < 0 || ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf)) {
		test(false, "%s: sw_sync fence (%s)", what, strerror(errno));
		skip("no fence", "%s runs after INC in another process", what);
		if (tl >= 0)
			close(tl);
		return;
	}
	VkSemaphoreCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO };
	r = vkCreateSemaphore(c->dev, &sci, NULL, &s);
	ifd = fcntl(cf.fence, F_DUPFD_CLOEXEC, 0);
	if (r == VK_SUCCESS && ifd >= 0) {
		VkImportSemaphoreFdInfoKHR isi = {
			.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR,
			.semaphore = s,
			.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT,
			.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
			.fd = ifd,
		};
		r = c->ImportSemaphoreFdKHR(c->dev, &isi);
		if (r != VK_SUCCESS)
			close(ifd);
	}
	if (r == VK_SUCCESS)
		r = buf_create(c, &hb, BUF_SIZE, 0, false, -1, true);
	if (r == VK_SUCCESS) {
		VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
		r = vkCreateFence(c->dev, &fci, NULL, &vf);
	}
	if (r == VK_SUCCESS) {
		memset(hb.map, 0, BUF_SIZE);
		cb = cmd_begin(c);
		if (!cb)
			r = VK_ERROR_UNKNOWN;
	}
	if (r == VK_SUCCESS) {
		vkCmdFillBuffer(cb, hb.buf, 0, VK_WHOLE_SIZE, PATTERN4);
		r = vkEndCommandBuffer(cb);
	}
	if (r == VK_SUCCESS) {
		VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
		VkSubmitInfo si = {
			.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
			.waitSemaphoreCount = 1,
			.pWaitSemaphores = &s,
			.pWaitDstStageMask = &stage,
			.commandBufferCount = 1,
			.pCommandBuffers = &cb,
		};
		r = vkQueueSubmit(c->queue, 1, &si, vf);
	}
	/* 200 ms: the queue must still be waiting, nothing written */
	VkResult early = r == VK_SUCCESS ? vkWaitForFences(c->dev, 1, &vf, VK_TRUE, 200000000ull) : r;
	size_t written = early == VK_TIMEOUT ? BUF_SIZE / 4 - check_words(hb.map, BUF_SIZE / 4, 0) : 0;
	test(early == VK_TIMEOUT && written == 0,
	     "%s does not run while the fence is pending (%s, %zu words written)", what,
	     vkres(early), written);

	pid_t pid = fork();
	if (pid == 0) {
		uint32_t one = 1;

		_exit(ioctl(tl, SW_SYNC_IOC_INC, &one) ? 1 : 0);
	}
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	r = early == VK_TIMEOUT ? vkWaitForFences(c->dev, 1, &vf, VK_TRUE, FENCE_TIMEOUT_NS) : early;
	size_t good = r == VK_SUCCESS ? check_words(hb.map, BUF_SIZE / 4, PATTERN4) : 0;
	test(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && r == VK_SUCCESS &&
		     good == BUF_SIZE / 4,
	     "%s runs after SW_SYNC_IOC_INC in another process (%s, %zu/%u words)", what, vkres(r),
	     good, BUF_SIZE / 4);

	vkQueueWaitIdle(c->queue);
	if (cb)
		vkFreeCommandBuffers(c->dev, c->pool, 1, &cb);
	if (vf)
		vkDestroyFence(c->dev, vf, NULL);
	if (s)
		vkDestroySemaphore(c->dev, s, NULL);
	buf_destroy(c, &hb);
	close(cf.fence);
	close(tl);
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	VkResult r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--require") == 0) {
			require_features = true;
		} else {
			fprintf(stderr, "usage: %s [--require]\n", argv[0]);
			return 2;
		}
	}
	diag("/dev/udmabuf %s", access("/dev/udmabuf", R_OK | W_OK) == 0 ? "is present" : "is absent");

	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "vk-dmabuf",
		.apiVersion = VK_API_VERSION_1_2,
	};
	VkInstanceCreateInfo ici = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app };
	r = vkCreateInstance(&ici, NULL, &c.inst);
	if (r != VK_SUCCESS) {
		printf("1..0 # SKIP no Vulkan instance (%s)\n", vkres(r));
		return require_features ? 1 : 0;
	}

	uint32_t n = 0;
	vkEnumeratePhysicalDevices(c.inst, &n, NULL);
	VkPhysicalDevice *pdevs = calloc(n ? n : 1, sizeof(*pdevs));
	vkEnumeratePhysicalDevices(c.inst, &n, pdevs);
	VkPhysicalDeviceDriverProperties drv = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES };
	VkPhysicalDeviceProperties2 props = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };
	for (uint32_t i = 0; i < n && !c.pdev; i++) {
		VkPhysicalDeviceProperties p;
		vkGetPhysicalDeviceProperties(pdevs[i], &p);
		if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
			c.pdev = pdevs[i];
	}
	free(pdevs);
	if (!c.pdev) {
		printf("1..0 # SKIP no CPU Vulkan device (install mesa-vulkan-drivers)\n");
		vkDestroyInstance(c.inst, NULL);
		return require_features ? 1 : 0;
	}
	vkGetPhysicalDeviceProperties(c.pdev, &props.properties);
	if (props.properties.apiVersion >= VK_API_VERSION_1_2)
		props.pNext = &drv;
	vkGetPhysicalDeviceProperties2(c.pdev, &props);
	test(true, "CPU Vulkan device: %s, %s", props.properties.deviceName,
	     drv.driverInfo[0] ? drv.driverInfo : "(no driver info)");
	vkGetPhysicalDeviceMemoryProperties(c.pdev, &c.memprops);

	/* What the driver offers. */
	uint32_t next = 0;
	vkEnumerateDeviceExtensionProperties(c.pdev, NULL, &next, NULL);
	VkExtensionProperties *exts = calloc(next ? next : 1, sizeof(*exts));
	vkEnumerateDeviceExtensionProperties(c.pdev, NULL, &next, exts);
	bool ext_mem_fd = has_ext(exts, next, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
	bool ext_dmabuf = has_ext(exts, next, VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME);
	bool ext_sem_fd = has_ext(exts, next, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
	free(exts);
	diag("extensions: %s %s, %s %s, %s %s",
	     VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME, ext_mem_fd ? "yes" : "no",
	     VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME, ext_dmabuf ? "yes" : "no",
	     VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME, ext_sem_fd ? "yes" : "no");

	VkPhysicalDeviceExternalBufferInfo ebi = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO,
		.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
		.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	VkExternalBufferProperties ebp = { .sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES };
	if (ext_dmabuf)
		vkGetPhysicalDeviceExternalBufferProperties(c.pdev, &ebi, &ebp);
	VkExternalMemoryFeatureFlags buf_feat = ebp.externalMemoryProperties.externalMemoryFeatures;

	VkPhysicalDeviceExternalImageFormatInfo eifi = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO,
		.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
	};
	VkPhysicalDeviceImageFormatInfo2 ifi = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2,
		.pNext = &eifi,
		.format = VK_FORMAT_R8G8B8A8_UNORM,
		.type = VK_IMAGE_TYPE_2D,
		.tiling = VK_IMAGE_TILING_LINEAR,
		.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
	};
	VkExternalImageFormatProperties eifp = { .sType = VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES };
	VkImageFormatProperties2 ifp = { .sType = VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2, .pNext = &eifp };
	VkResult ir = ext_dmabuf ? vkGetPhysicalDeviceImageFormatProperties2(c.pdev, &ifi, &ifp)
				 : VK_ERROR_FORMAT_NOT_SUPPORTED;
	VkExternalMemoryFeatureFlags img_feat =
		ir == VK_SUCCESS ? eifp.externalMemoryProperties.externalMemoryFeatures : 0;

	VkPhysicalDeviceExternalSemaphoreInfo esi = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
		.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
	};
	VkExternalSemaphoreProperties esp = { .sType = VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES };
	vkGetPhysicalDeviceExternalSemaphoreProperties(c.pdev, &esi, &esp);
	VkExternalSemaphoreFeatureFlags sem_feat = esp.externalSemaphoreFeatures;

#define YN(f, bit) (((f) & (bit)) ? "yes" : "no")
	diag("DMA_BUF buffer: exportable %s, importable %s",
	     YN(buf_feat, VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT),
	     YN(buf_feat, VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT));
	diag("DMA_BUF linear RGBA8 image: exportable %s, importable %s (%s)",
	     YN(img_feat, VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT),
	     YN(img_feat, VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT), vkres(ir));
	diag("SYNC_FD semaphore: exportable %s, importable %s",
	     YN(sem_feat, VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT),
	     YN(sem_feat, VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT));

	const char *no_udmabuf = "driver does not offer it (lavapipe needs /dev/udmabuf)";
	bool buf_export = feature(ext_mem_fd && ext_dmabuf &&
				  (buf_feat & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT),
				  no_udmabuf, "DMA_BUF export offered for VkBuffer");
	bool buf_import = ext_mem_fd && ext_dmabuf && (buf_feat & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT);
	bool img_export = feature(ext_mem_fd && ext_dmabuf &&
				  (img_feat & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT),
				  no_udmabuf, "DMA_BUF export offered for a linear VkImage");
	const VkExternalSemaphoreFeatureFlags both = VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT |
						     VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
	bool sem = feature(ext_sem_fd && (sem_feat & both) == both,
			   "driver does not offer it (lavapipe needs DMA_BUF_IOCTL_EXPORT_SYNC_FILE on a udmabuf)",
			   "SYNC_FD semaphore export and import offered");

	/* The device, with whatever of the extensions exists. */
	const char *dev_exts[3];
	uint32_t ndev_exts = 0;
	if (ext_mem_fd)
		dev_exts[ndev_exts++] = VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME;
	if (ext_dmabuf)
		dev_exts[ndev_exts++] = VK_EXT_EXTERNAL_MEMORY_DMA_BUF_EXTENSION_NAME;
	if (ext_sem_fd)
		dev_exts[ndev_exts++] = VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME;
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
		.queueFamilyIndex = 0,
		.queueCount = 1,
		.pQueuePriorities = &prio,
	};
	VkDeviceCreateInfo dci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
		.queueCreateInfoCount = 1,
		.pQueueCreateInfos = &qci,
		.enabledExtensionCount = ndev_exts,
		.ppEnabledExtensionNames = dev_exts,
	};
	r = vkCreateDevice(c.pdev, &dci, NULL, &c.dev);
	if (!test(r == VK_SUCCESS, "vkCreateDevice with %u external-handle extension(s) (%s)",
		  ndev_exts, vkres(r))) {
		vkDestroyInstance(c.inst, NULL);
		printf("1..%u\n", ntests);
		return 1;
	}
	vkGetDeviceQueue(c.dev, 0, 0, &c.queue);
	VkCommandPoolCreateInfo pci = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		.queueFamilyIndex = 0,
	};
	r = vkCreateCommandPool(c.dev, &pci, NULL, &c.pool);
	test(r == VK_SUCCESS, "vkCreateCommandPool (%s)", vkres(r));
	c.GetMemoryFdKHR = (PFN_vkGetMemoryFdKHR)vkGetDeviceProcAddr(c.dev, "vkGetMemoryFdKHR");
	c.GetMemoryFdPropertiesKHR = (PFN_vkGetMemoryFdPropertiesKHR)
		vkGetDeviceProcAddr(c.dev, "vkGetMemoryFdPropertiesKHR");
	c.GetSemaphoreFdKHR = (PFN_vkGetSemaphoreFdKHR)vkGetDeviceProcAddr(c.dev, "vkGetSemaphoreFdKHR");
	c.ImportSemaphoreFdKHR = (PFN_vkImportSemaphoreFdKHR)
		vkGetDeviceProcAddr(c.dev, "vkImportSemaphoreFdKHR");
	if (r != VK_SUCCESS || (ext_mem_fd && (!c.GetMemoryFdKHR || !c.GetMemoryFdPropertiesKHR)) ||
	    (ext_sem_fd && (!c.GetSemaphoreFdKHR || !c.ImportSemaphoreFdKHR))) {
		test(false, "device entry points");
		buf_export = img_export = sem = false;
	}

	if (buf_export) {
		test_buffer(&c, buf_import);
	} else {
		const char *why = "no DMA_BUF export";
		skip(why, "VkBuffer dma-buf export, mmap and import");
	}
	if (img_export)
		test_image(&c);
	else
		skip("no DMA_BUF export for images", "VkImage dma-buf export and mmap");
	if (sem) {
		test_semaphores(&c);
		test_pending_sync_file(&c);
	} else {
		skip("no SYNC_FD semaphores", "SYNC_FD export, SYNC_IOC_FILE_INFO, poll and import");
		skip("no SYNC_FD semaphores", "a submit waiting on a pending sw_sync fence");
	}

	vkDeviceWaitIdle(c.dev);
	if (c.pool)
		vkDestroyCommandPool(c.dev, c.pool, NULL);
	vkDestroyDevice(c.dev, NULL);
	vkDestroyInstance(c.inst, NULL);
	printf("1..%u\n", ntests);
	return nfailed ? 1 : 0;
}

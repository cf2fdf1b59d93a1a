/* SPDX-License-Identifier: MIT */
/*
 * Private: helpers shared by the dma-buf, udmabuf, dma-heap and dma-buf
 * poll unit tests.  Everything goes through the public entry points with
 * the <linux/...> structs; fences come from in-process sw_sync timelines
 * wrapped in sync files.
 */
#ifndef DMASYNC_DMA_BUF_TEST_H
#define DMASYNC_DMA_BUF_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

#include <dmasync/dma-buf.h>
#include <dmasync/dmasync-uapi.h>
#include <dmasync/sw_sync.h>
#include <dmasync/sync_file.h>
#include "dma-buf-priv.h"
#include "file.h"
#include "test-harness.h"
#include "uapi-test.h"

static inline s64 ms_since(ktime_t t0)
{
	return (ktime_get() - t0) / 1000000;
}

static inline int new_memfd(size_t size, unsigned int seals)
{
	int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	if (seals && fcntl(fd, F_ADD_SEALS, seals))
		abort();
	return fd;
}

static inline int open_udmabuf_dev(void)
{
	return dmasync_open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
}

static inline int open_heap(void)
{
	return dmasync_open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
}

static inline int try_udmabuf(int dev, int memfd, u64 off, u64 size, u32 flags)
{
	struct udmabuf_create c = { .memfd = (u32)memfd, .flags = flags, .offset = off, .size = size };

	return dmasync_ioctl(dev, UDMABUF_CREATE, &c);
}

static inline int try_heap(int heap, u64 len, u32 fd_flags, u64 heap_flags)
{
	struct dma_heap_allocation_data a = { .len = len, .fd_flags = fd_flags,
					      .heap_flags = heap_flags };

	if (dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		return -1;
	return (int)a.fd;
}

/* A udmabuf of @size over a fresh memfd (closed; the buffer keeps it). */
static inline int new_udmabuf(size_t size)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(size, F_SEAL_SHRINK);
	int b = try_udmabuf(dev, mfd, 0, size, UDMABUF_FLAGS_CLOEXEC);

	close(mfd);
	dmasync_close(dev);	/* released now: tests count objects */
	return b;
}

static inline int new_heapbuf(size_t size)
{
	int heap = open_heap();
	int b = try_heap(heap, size, O_RDWR | O_CLOEXEC, 0);

	dmasync_close(heap);
	return b;
}

/* Kind 0: udmabuf, 1: system heap. */
static inline int new_dmabuf_kind(int kind, size_t size)
{
	return kind ? new_heapbuf(size) : new_udmabuf(size);
}

/* A sync file fd for @fence (borrowed). */
static inline int fence_fd(struct dma_fence *fence)
{
	int fd = sync_file_create_fd(fence);

	if (fd < 0)
		abort();
	return fd;
}

/* A sync file fd for a point at @value on @tl. */
static inline int point_fd(struct sync_timeline *tl, u32 value)
{
	struct dma_fence *f = sync_pt_create(tl, value);
	int fd = fence_fd(f);

	dma_fence_put(f);
	return fd;
}

static inline int try_import(int buf, int fence, u32 flags)
{
	struct dma_buf_import_sync_file imp = { .flags = flags, .fd = fence };

	return dmasync_ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp);
}

/* Import a point at @value on @tl with @flags. */
static inline int import_point(int buf, struct sync_timeline *tl, u32 value, u32 flags)
{
	int f = point_fd(tl, value), r = try_import(buf, f, flags);

	close(f);
	return r;
}

static inline int try_export(int buf, u32 flags)
{
	struct dma_buf_export_sync_file exp = { .flags = flags, .fd = -1 };

	if (dmasync_ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &exp))
		return -1;
	return exp.fd;
}

/* The fence behind an exported sync file (a reference). */
static inline struct dma_fence *export_fence(int buf, u32 flags)
{
	int fd = try_export(buf, flags);
	struct dma_fence *f;

	if (fd < 0)
		return NULL;
	f = sync_file_get_fence(fd);
	close(fd);
	return f;
}

static inline int dma_sync(int buf, u64 flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return dmasync_ioctl(buf, DMA_BUF_IOCTL_SYNC, &s);
}

/* poll() one fd; revents, or -1 on error. */
static inline int revents(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = dmasync_poll(&p, 1, timeout_ms);

	return r < 0 ? -1 : p.revents;
}

/* Two pages, the second inaccessible: returns the end of the first
 * (munmap(end - PAGE, 2 * PAGE)). */
static inline char *page_before_hole(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	mprotect(p + PAGE, PAGE, PROT_NONE);
	return p + PAGE;
}

/* Advance @tl by @inc after @ms, from a thread. */
struct delayed_inc {
	pthread_t th;
	struct sync_timeline *tl;
	int ms;
	u32 inc;
};

static inline void *delayed_inc_fn(void *arg)
{
	struct delayed_inc *d = arg;

	sleep_ms(d->ms);
	sync_timeline_signal(d->tl, d->inc);
	return NULL;
}

static inline void delayed_inc_start(struct delayed_inc *d, struct sync_timeline *tl, int ms,
				     u32 inc)
{
	d->tl = tl;
	d->ms = ms;
	d->inc = inc;
	if (pthread_create(&d->th, NULL, delayed_inc_fn, d))
		abort();
}

static inline void delayed_inc_join(struct delayed_inc *d)
{
	pthread_join(d->th, NULL);
}

/* Release what closed fds left behind (the harness does it too, later). */
static inline void reap(void)
{
	uapi_files_reap();
}

#endif

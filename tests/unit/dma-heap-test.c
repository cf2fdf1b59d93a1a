/* SPDX-License-Identifier: MIT */
/*
 * Tests of /dev/dma_heap/system (src/uapi/dma-heap.c) through dmasync_open()
 * and dmasync_ioctl() with the <linux/dma-heap.h> struct: fd flags, sizes,
 * Linux's request decoding and errno, copy-out failures, fresh memory.
 */
#include <sys/stat.h>

#include "dma-buf-test.h"

static bool cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f != -1 && (f & FD_CLOEXEC);
}

TEST(alloc_fd_flags_and_sizes)
{
	int heap = open_heap();
	int b0 = try_heap(heap, 2 * PAGE, O_RDWR | O_CLOEXEC, 0);
	int b1 = try_heap(heap, 2 * PAGE, O_RDWR, 0);
	int b2 = try_heap(heap, 1, O_RDWR | O_CLOEXEC, 0);
	int b3 = try_heap(heap, PAGE + 1, O_WRONLY | O_CLOEXEC, 0);
	int b4 = try_heap(heap, PAGE, O_RDONLY, 0);
	struct dma_buf *buf;
	struct stat st;

	REQUIRE(heap >= 0 && b0 >= 0 && b1 >= 0 && b2 >= 0 && b3 >= 0 && b4 >= 0);
	CHECK(cloexec(b0));
	CHECK(!cloexec(b1));
	CHECK(!cloexec(b4));
	CHECK_EQ(fcntl(b0, F_GETFL) & O_ACCMODE, O_RDWR);
	CHECK_EQ(fcntl(b3, F_GETFL) & O_ACCMODE, O_WRONLY);
	CHECK_EQ(fcntl(b4, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK_EQ(dmasync_lseek(b0, 0, SEEK_END), 2 * PAGE);
	CHECK_EQ(dmasync_lseek(b2, 0, SEEK_END), PAGE);
	CHECK_EQ(dmasync_lseek(b3, 0, SEEK_END), 2 * PAGE);
	/* natively too: the fd is a memfd of exactly the size */
	CHECK_EQ(lseek(b0, 0, SEEK_END), 2 * PAGE);
	CHECK_EQ(fstat(b2, &st), 0);
	CHECK_EQ(st.st_size, PAGE);
	/* and its size cannot be changed */
	CHECK(ftruncate(b0, 8 * PAGE) != 0);
	buf = dma_buf_get(b0);
	REQUIRE(!IS_ERR(buf));
	CHECK_STR(buf->exp_name, "system");
	dma_buf_put(buf);
	/* the device is not seekable */
	errno = 0;
	CHECK_EQ(dmasync_lseek(heap, 0, SEEK_SET), -1);
	CHECK_EQ(errno, ESPIPE);
	close(b0);
	close(b1);
	close(b2);
	close(b3);
	close(b4);
	close(heap);
}

TEST(alloc_errors)
{
	int heap = open_heap();
	struct dma_heap_allocation_data a;
	void *ro;

	errno = 0;
	CHECK_EQ(try_heap(heap, PAGE, O_RDWR, 1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(try_heap(heap, PAGE, O_RDWR, 1ull << 63), -1);
	CHECK_EQ(try_heap(heap, PAGE, O_RDWR | O_NONBLOCK, 0), -1);
	CHECK_EQ(try_heap(heap, PAGE, O_RDWR | O_APPEND, 0), -1);
	CHECK_EQ(try_heap(heap, 0, O_RDWR, 0), -1);
	/* a length that wraps around when rounded up to pages */
	CHECK_EQ(try_heap(heap, ~0ull, O_RDWR, 0), -1);
	CHECK_EQ(errno, EINVAL);
	memset(&a, 0, sizeof(a));
	a.len = PAGE;
	a.fd = 5;
	a.fd_flags = O_RDWR;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	/* copy-out failure: the buffer is released, no fd stays behind */
	a.fd = 0;
	ro = ro_page(&a, sizeof(a));
	errno = 0;
	CHECK_EQ(dmasync_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, ro), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(uapi_tracked_count(), 0); /* no buffer (the device is not one) */
	munmap(ro, PAGE);
	/* request numbers other than 0 are EINVAL, not ENOTTY */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(heap, _IOWR('H', 1, struct dma_heap_allocation_data), &a), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(dmasync_ioctl(heap, UDMABUF_CREATE, &a), -1);
	CHECK_EQ(dmasync_ioctl(heap, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &a), -1);
	CHECK_EQ(errno, EINVAL);
	close(heap);
}

/* Number 0 is ALLOC whatever the rest of the request code says: the
 * argument is copied with the caller's size and directions. */
TEST(alloc_request_decoding)
{
	int heap = open_heap();
	struct {
		struct dma_heap_allocation_data a;
		char tail[8];
	} big;
	u64 len = PAGE;

	memset(&big, 0, sizeof(big));
	big.a.len = 3 * PAGE;
	big.a.fd_flags = O_RDWR | O_CLOEXEC;
	/* a larger struct: the tail is copied in and back out unchanged */
	memset(big.tail, 'T', sizeof(big.tail));
	REQUIRE(dmasync_ioctl(heap, _IOWR('H', 0, big), &big) == 0);
	CHECK((int)big.a.fd >= 0);
	CHECK_EQ(dmasync_lseek((int)big.a.fd, 0, SEEK_END), 3 * PAGE);
	CHECK_EQ(big.tail[7], 'T');
	close((int)big.a.fd);
	/* a different type letter with number 0 is ALLOC too */
	memset(&big, 0, sizeof(big));
	big.a.len = PAGE;
	REQUIRE(dmasync_ioctl(heap, _IOWR('x', 0, struct dma_heap_allocation_data), &big.a) == 0);
	CHECK(cloexec((int)big.a.fd) == false);
	close((int)big.a.fd);
	/* write-only direction: allocated, not reported (and not leaked) */
	CHECK_EQ(dmasync_ioctl(heap, _IOW('H', 0, u64), &len), 0);
	/* no direction: nothing copied in, len 0 */
	errno = 0;
	CHECK_EQ(dmasync_ioctl(heap, _IO('H', 0), NULL), -1);
	CHECK_EQ(errno, EINVAL);
	reap();
	CHECK_EQ(uapi_tracked_count(), 0);
	close(heap);
}

TEST(fresh_zeroed_memory_and_access_modes)
{
	int heap = open_heap();
	int b = try_heap(heap, 2 * PAGE, O_RDWR | O_CLOEXEC, 0);
	int c = try_heap(heap, 2 * PAGE, O_RDWR | O_CLOEXEC, 0);
	int ro = try_heap(heap, PAGE, O_RDONLY | O_CLOEXEC, 0);
	char *p1, *p2, *q;

	REQUIRE(b >= 0 && c >= 0 && ro >= 0);
	p1 = dmasync_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	p2 = dmasync_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
	REQUIRE(p1 != MAP_FAILED && p2 != MAP_FAILED);
	CHECK_EQ(p1[0], 0);
	p1[PAGE + 3] = 'h';
	CHECK_EQ(p2[PAGE + 3], 0);	/* distinct buffers */
	errno = 0;
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	/* natively as well */
	CHECK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
	q = dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	CHECK(q != MAP_FAILED);
	munmap(q, PAGE);
	/* no SYNC END-before-START quirk */
	CHECK_EQ(dma_sync(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 0);
	munmap(p1, 2 * PAGE);
	munmap(p2, 2 * PAGE);
	close(ro);
	close(c);
	close(b);
	close(heap);
}

TEST(heap_buffers_are_not_udmabuf_sources)
{
	int heap = open_heap(), dev = open_udmabuf_dev();
	int b = try_heap(heap, PAGE, O_RDWR | O_CLOEXEC, 0);

	REQUIRE(b >= 0);
	errno = 0;
	CHECK_EQ(try_udmabuf(dev, b, 0, PAGE, 0), -1);
	CHECK_EQ(errno, EBADFD);
	close(b);
	close(dev);
	close(heap);
}
